/// What went wrong serving or publishing firmware, on which device or file, and what to do.
public enum FirmwareError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Signature or content checks failed: the firmware must not be served.
    case untrusted(String)
    /// The registry could not be reached or answered something unusable.
    case registry(String)
    /// The device has no repository, or no release tag in it.
    case unknownDevice(String)
    /// Configuration, files, arguments.
    case invalid(String)

    public var description: String {
        switch self {
        case .untrusted(let reason): return reason
        case .registry(let reason): return reason
        case .unknownDevice(let reason): return reason
        case .invalid(let reason): return reason
        }
    }
}
