import Foundation
import Testing
@testable import Updater
import SystemdNotify

/// A bound unix datagram socket standing in for systemd's notify socket.
private final class NotifyListener: @unchecked Sendable {
    let fd: Int32
    let path: String?

    /// `name` starting with "@" binds in the abstract namespace; otherwise `name` is a file path.
    init(_ name: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (abstract ? 0 : 1)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(length)) }
        }
        guard bound == 0 else {
            close(fd)
            throw POSIXError(POSIXErrorCode(rawValue: errno)!)
        }
        var timeout = timeval(tv_sec: 20, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        self.fd = fd
        path = abstract ? nil : name
    }

    deinit {
        close(fd)
        if let path { unlink(path) }
    }

    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return count < 0 ? nil : String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

@Suite("SystemdNotifier")
struct NotifySystemdTests {
    @Test func sendsEachNotificationAsOneDatagramToAPathSocket() throws {
        let dir = try HealthScratchDirectory("otter-notify")
        let listener = try NotifyListener(dir.path + "/notify.sock")
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": dir.path + "/notify.sock"])
        #expect(notifier.isEnabled)
        try notifier.ready(status: "idle, current Target 42")
        #expect(listener.receive() == "READY=1\nSTATUS=idle, current Target 42")
        try notifier.status("fetching 42%")
        #expect(listener.receive() == "STATUS=fetching 42%")
        try notifier.watchdog()
        #expect(listener.receive() == "WATCHDOG=1")
        try notifier.stopping()
        #expect(listener.receive() == "STOPPING=1")
        try notifier.status("two\nlines")
        #expect(listener.receive() == "STATUS=two lines")
    }

    @Test func reachesAnAbstractNamespaceSocket() throws {
        let name = "@otter-notify-test-\(UUID().uuidString)"
        let listener = try NotifyListener(name)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": name])
        try notifier.ready()
        #expect(listener.receive() == "READY=1")
    }

    @Test func withoutNotifySocketEveryCallIsANoOp() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        try notifier.ready(status: "x")
        try notifier.watchdog()
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]).isEnabled == false)
    }

    @Test func aSocketNobodyListensOnIsAnErrorNamingIt() throws {
        let dir = try HealthScratchDirectory("otter-notify")
        let path = dir.path + "/nobody.sock"
        #expect(throws: SystemdNotifierError.sendFailed(path, errno: ENOENT)) {
            try SystemdNotifier(environment: ["NOTIFY_SOCKET": path]).ready()
        }
        #expect(throws: SystemdNotifierError.invalidSocket("relative.sock")) {
            try SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative.sock"]).ready()
        }
    }

    @Test func watchdogIntervalIsHalfOfWatchdogUsecForThisProcessOnly() {
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"]) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "3"]) == .microseconds(1))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "\(getpid())"]) == .seconds(10))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"], pid: 4242) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "0"]) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "soon"]) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: [:]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "1000000"]).watchdogInterval == .milliseconds(500))
    }
}

@Suite("SystemdNotifier watchdog loop")
struct NotifyWatchdogLoopTests {
    @Test func feedsTheWatchdogAtHalfItsTimeoutUntilCancelled() async throws {
        let dir = try HealthScratchDirectory("otter-notify")
        let listener = try NotifyListener(dir.path + "/notify.sock")
        // WATCHDOG_USEC = 200 ms: a ping every 100 ms.
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": dir.path + "/notify.sock", "WATCHDOG_USEC": "200000"])
        let feeding = Task { await notifier.keepWatchdogFed() }
        // recv blocks: wait for it on a dispatch thread, not a cooperative one the feeding task needs.
        let received: [String?] = await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: [listener.receive(), listener.receive(), listener.receive()]) }
        }
        #expect(received == ["WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"])
        feeding.cancel()
        await feeding.value
    }

    @Test func withoutAWatchdogTheLoopReturnsAtOnce() async {
        await SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/none"]).keepWatchdogFed()
        await SystemdNotifier(environment: ["WATCHDOG_USEC": "1000"]).keepWatchdogFed()
    }
}
