/// What went wrong with a bootloader environment, on which file, and what to do next.
public enum BootloaderError: Error, Equatable, CustomStringConvertible {
    /// Every copy of the environment fails its check (bad CRC, missing GRUB signature). Otter never
    /// replaces such an environment on its own: the bootloader falls back to its built-in defaults,
    /// and overwriting would hide the fault. `UBootEnvironment.reinitialize(with:)` is the explicit way out.
    case corruptEnvironment(path: String, detail: String)
    case io(operation: String, path: String, errno: Int32)
    case invalidConfiguration(path: String, line: Int, detail: String)
    case invalidVariable(name: String, detail: String)
    case invalidValue(name: String, value: String, expected: String)
    case environmentFull(path: String, needed: Int, capacity: Int)
    case unknownBackend(String)
    case scriptFailed(script: String, arguments: [String], status: Int32, output: String)
    case unsupported(backend: String, operation: String)

    public var description: String {
        switch self {
        case let .corruptEnvironment(path, detail):
            return "bootloader environment \(path) is corrupt (\(detail)); nothing was written. "
                + "The bootloader uses its built-in defaults until the environment is rewritten from a known-good image"
        case let .io(operation, path, errno):
            return "\(operation) \(path) failed: \(Self.errnoText(errno)) (errno \(errno))"
        case let .invalidConfiguration(path, line, detail):
            return "\(path):\(line): \(detail)"
        case let .invalidVariable(name, detail):
            return "bootloader variable name \"\(name)\" is not allowed: \(detail)"
        case let .invalidValue(name, value, expected):
            return "bootloader variable \(name)=\"\(value)\" is not \(expected); fix it with the bootloader's tool (fw_setenv, grub-editenv)"
        case let .environmentFull(path, needed, capacity):
            return "bootloader environment \(path) is full: \(needed) bytes needed, \(capacity) available; nothing was written"
        case let .unknownBackend(name):
            return "unknown bootloader backend \"\(name)\"; use one of: \(BootloaderBackend.allCases.map(\.rawValue).joined(separator: ", "))"
        case let .scriptFailed(script, arguments, status, output):
            return "bootloader script `\(([script] + arguments).joined(separator: " "))` exited \(status)"
                + (output.isEmpty ? "" : ": \(output)")
        case let .unsupported(backend, operation):
            return "the \(backend) bootloader backend cannot \(operation)"
        }
    }

    private static func errnoText(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "unknown error" }
        return String(cString: text)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
