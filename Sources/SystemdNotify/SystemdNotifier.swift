#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The sd_notify protocol (sd_notify(3)) without libsystemd: one datagram of `KEY=value` lines to
/// the unix socket in `NOTIFY_SOCKET` (a leading `@` is the abstract namespace). When
/// `NOTIFY_SOCKET` is unset (not started by systemd with `Type=notify`) every call does nothing.
public struct SystemdNotifier: Sendable {
    /// The socket address as given; nil = notifications are off.
    public let socketPath: String?
    /// Half of `WATCHDOG_USEC` (systemd's advice), when the watchdog is on and meant for this process.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = processEnvironment()) {
        let path = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        socketPath = path
        watchdogInterval = Self.watchdogInterval(environment: environment)
    }

    public var isEnabled: Bool { socketPath != nil }

    /// `WATCHDOG_USEC` halved; nil when it is unset, not a positive number, or `WATCHDOG_PID`
    /// names another process (the variables were inherited from a parent).
    public static func watchdogInterval(environment: [String: String], pid: pid_t = getpid()) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty, owner != String(pid) { return nil }
        return .microseconds(Int64(clamping: microseconds / 2))
    }

    /// Sends WATCHDOG=1 every `watchdogInterval` until the task is cancelled; returns at once when
    /// the watchdog is off. A failed ping is handed to `onError` and the loop goes on (systemd
    /// restarts the unit if the pings stop arriving, which is the point).
    public func keepWatchdogFed(onError: @Sendable (SystemdNotifierError) -> Void = { _ in }) async {
        guard isEnabled, let watchdogInterval else { return }
        while !Task.isCancelled {
            do { try watchdog() } catch { onError(error) }
            do { try await Task.sleep(for: watchdogInterval) } catch { return }
        }
    }

    public func ready(status: String? = nil) throws(SystemdNotifierError) {
        try send(["READY=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    public func status(_ text: String) throws(SystemdNotifierError) {
        try send(["STATUS=\(text)"])
    }

    public func watchdog() throws(SystemdNotifierError) {
        try send(["WATCHDOG=1"])
    }

    public func stopping(status: String? = nil) throws(SystemdNotifierError) {
        try send(["STOPPING=1"] + (status.map { ["STATUS=\($0)"] } ?? []))
    }

    /// Sends the assignments as one datagram. A newline inside a value would start a new
    /// assignment, so it is replaced by a space.
    public func send(_ assignments: [String]) throws(SystemdNotifierError) {
        guard let socketPath else { return }
        let message = assignments.map { $0.replacingNewlines() }.joined(separator: "\n")
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        let abstract = pathBytes.first == UInt8(ascii: "@")
        if abstract { pathBytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity, abstract || pathBytes.first == UInt8(ascii: "/") else {
            throw .invalidSocket(socketPath)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
        }
        // An abstract address is exactly its bytes; a path one includes the terminating NUL.
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count + (abstract ? 0 : 1)

        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .sendFailed(socketPath, errno: errno) }
        defer { close(fd) }
        let sent = message.utf8CString.withUnsafeBufferPointer { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    // Never block: a notify socket nobody reads (a full queue) must not stall the
                    // daemon's update loop; the message is dropped and reported instead.
                    sendto(fd, text.baseAddress, text.count - 1, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, socklen_t(length))
                }
            }
        }
        guard sent >= 0 else { throw .sendFailed(socketPath, errno: errno) }
    }
}

public enum SystemdNotifierError: Error, Equatable, CustomStringConvertible {
    case invalidSocket(String)
    case sendFailed(String, errno: Int32)

    public var description: String {
        switch self {
        case let .invalidSocket(path):
            return "NOTIFY_SOCKET=\(path) is neither an absolute path nor an abstract name (@…) that fits a unix socket address"
        case let .sendFailed(path, code):
            return "cannot notify systemd through \(path): \(String(cString: strerror(code))); is the unit Type=notify?"
        }
    }
}

private extension String {
    func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r\n" || $0 == "\r" ? " " : $0 })
    }
}

/// This process's environment, read from `environ` (the module needs no Foundation: the daemon's
/// supervisor links only the standard library).
public func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let assignment = String(cString: pointer)
        if let equals = assignment.firstIndex(of: "=") {
            result[String(assignment[..<equals])] = String(assignment[assignment.index(after: equals)...])
        }
        entry += 1
    }
    return result
}
