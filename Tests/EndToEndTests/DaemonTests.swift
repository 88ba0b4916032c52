import Foundation
import Testing
import TestSupport

/// `otter daemon` as otter.service runs it: sd_notify READY, an update applied by itself, and a
/// graceful stop on SIGTERM.
@Suite(.serialized) struct DaemonTests {
    /// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
    final class NotifyListener {
        let path: String
        let fd: Int32

        init(path: String) throws {
            self.path = path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0 else { throw FixtureError("bind \(path): \(String(cString: strerror(errno)))") }
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        /// Every datagram received until `deadline` or until one contains `marker`.
        func receive(until marker: String, seconds: Double) -> [String] {
            var messages: [String] = []
            let end = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date() < end {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count > 0 {
                    let message = String(decoding: buffer[0..<count], as: UTF8.self)
                    messages.append(message)
                    if message.contains(marker) { break }
                }
            }
            return messages
        }
    }

    @Test func daemonSaysReadyAppliesANewTargetAndStopsOnSIGTERM() async throws {
        let lab = try await DeviceLab()
        let os1 = try lab.publishOS("1")
        let web1 = try lab.publishApp("web", version: "1", body: "ok d1")
        let web2 = try lab.publishApp("web", version: "2", body: "ok d2")
        try lab.addTarget("1", os: os1, apps: ["web": web1])
        #expect(try lab.otter(["update"]).status == 100)
        try await lab.reboot()
        #expect(try lab.otter(["health"]).status == 0)

        let listener = try NotifyListener(path: lab.temp.path + "/notify.sock")
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: builtProduct("otter"))
        daemon.arguments = ["daemon", "--sysroot", lab.sysroot, "--interval", "1"]
        daemon.environment = ProcessInfo.processInfo.environment.merging([
            "OTTER_SIMULATED_BOOT_FILE": lab.bootFile, "NOTIFY_SOCKET": listener.path,
        ]) { $1 }
        daemon.standardOutput = FileHandle.nullDevice
        let logPath = lab.temp.path + "/daemon.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        daemon.standardError = FileHandle(forWritingAtPath: logPath)
        try daemon.run()
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }

        var messages = listener.receive(until: "READY=1", seconds: 30)
        #expect(messages.contains { $0.contains("READY=1") }, "sd_notify READY")
        // A new apps-only Target appears in the factory: the daemon installs it by itself.
        try lab.addTarget("2", os: os1, apps: ["web": web2])
        var version: String?
        for _ in 0..<120 {
            version = try lab.currentVersion()
            if version == "2" { break }
            messages += listener.receive(until: "\u{0}", seconds: 0.5)
        }
        #expect(version == "2", "the daemon applied Target 2: \(String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(3000)))")
        #expect(lab.appPage() == "ok d2")

        kill(daemon.processIdentifier, SIGTERM)
        let stopped = Date().addingTimeInterval(15)
        while daemon.isRunning && Date() < stopped { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!daemon.isRunning, "SIGTERM stops the daemon")
        #expect(daemon.isRunning || daemon.terminationStatus == 0, "a graceful stop exits 0")
        messages += listener.receive(until: "STOPPING=1", seconds: 2)
        #expect(messages.contains { $0.contains("STOPPING=1") })
        #expect(messages.contains { $0.hasPrefix("STATUS=") }, "step STATUS lines")
    }
}
