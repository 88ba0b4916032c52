import COSTree

/// A libostree/GLib failure: the GError's domain, code and message, plus what Otter was doing.
public struct OSTreeError: Error, CustomStringConvertible, Sendable {
    /// The GError domain as text (e.g. "g-io-error-quark"), or "otter" for errors raised here.
    public let domain: String
    public let code: Int
    public let message: String
    /// What was being done, on what: "pulling 3a4f… from http://…", "opening repo /ostree/repo".
    public let context: String

    public init(domain: String = "otter", code: Int = 0, message: String, context: String) {
        self.domain = domain
        self.code = code
        self.message = message
        self.context = context
    }

    public var description: String { context.isEmpty ? message : "\(context): \(message)" }

    /// True for G_IO_ERROR_NOT_FOUND: a missing ref, object or file.
    public var isNotFound: Bool { domain == "g-io-error-quark" && code == Int(G_IO_ERROR_NOT_FOUND.rawValue) }
    /// True for G_IO_ERROR_CANCELLED.
    public var isCancelled: Bool { domain == "g-io-error-quark" && code == Int(G_IO_ERROR_CANCELLED.rawValue) }
    /// True when the file system ran out of space (ENOSPC or ostree's min-free-space guard).
    public var isOutOfSpace: Bool {
        (domain == "g-io-error-quark" && code == Int(G_IO_ERROR_NO_SPACE.rawValue))
            || message.contains("min-free-space") || message.contains("No space left")
            || message.contains("free space")
    }
}

/// Calls a GLib-style function that reports failure through `GError **`, turning the error into
/// an `OSTreeError` and freeing it. `body` returns whether the call succeeded.
func gcall(_ context: @autoclosure () -> String, _ body: (UnsafeMutablePointer<UnsafeMutablePointer<GError>?>) -> Bool) throws(OSTreeError) {
    var error: UnsafeMutablePointer<GError>? = nil
    let ok = body(&error)
    if let error {
        let domain = String(cString: g_quark_to_string(error.pointee.domain))
        let failure = OSTreeError(domain: domain, code: Int(error.pointee.code),
                                  message: String(cString: error.pointee.message), context: context())
        g_error_free(error)
        throw failure
    }
    if !ok {
        throw OSTreeError(message: "failed without an error message", context: context())
    }
}

/// `gboolean` is imported as Int32.
extension Int32 {
    var isTrue: Bool { self != 0 }
}

extension Bool {
    var gboolean: gboolean { self ? 1 : 0 }
}
