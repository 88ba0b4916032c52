/// A configuration that cannot be used: the message names the file, the `section.key` and what was
/// expected, so the person at the console knows which line to mend.
public enum OtterConfigurationError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, reason: String)
    case syntax(file: String, line: Int, column: Int, message: String)
    case wrongType(file: String, key: String, expected: String, found: String)
    case invalidValue(file: String, key: String, value: String, expected: String)
    /// A setting that another one makes necessary (e.g. `bootloader.custom_script` for `backend = "custom"`).
    case missing(key: String, because: String)

    public var description: String {
        switch self {
        case let .unreadable(file, reason):
            return "cannot read the configuration fragment \(file): \(reason); fix its permissions or remove it"
        case let .syntax(file, line, column, message):
            return "\(file):\(line):\(column): not valid TOML: \(message); nothing was loaded"
        case let .wrongType(file, key, expected, found):
            return "\(file): \(key) must be \(expected), not a \(found); fix it (see config/otter.toml.example)"
        case let .invalidValue(file, key, value, expected):
            return "\(file): \(key) = \(value) is not valid: expected \(expected)"
        case let .missing(key, because):
            return "\(key) is not set, but \(because); set it in a file of /etc/otter/conf.d"
        }
    }
}

/// A key no part of Otter reads (a typo, or a setting of another version): reported, then ignored.
public struct OtterConfigurationWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// `section.key`, or the bare name of a top-level value.
    public var key: String

    public var description: String {
        "\(file): unknown setting \(key) was ignored (a typo? see config/otter.toml.example)"
    }
}
