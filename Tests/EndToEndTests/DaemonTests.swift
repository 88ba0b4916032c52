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

        /// `receiveTimeout`: how long one recv waits (the loops below poll in between).
        init(path: String, receiveTimeout: timeval = timeval(tv_sec: 1, tv_usec: 0)) throws {
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
            var timeout = receiveTimeout
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
        let (lab, os1, web2) = try await deviceOnTarget1(page: "ok d")

        let listener = try NotifyListener(path: lab.temp.path + "/notify.sock")
        let (daemon, logPath) = try startDaemon(lab, notify: listener)
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

    /// A device on Target 1 (web 1 answering "\(page)1", committed), and web 2 ("\(page)2")
    /// published for the Target the test adds.
    func deviceOnTarget1(page: String) async throws -> (DeviceLab, os: String, web2: String) {
        let lab = try await DeviceLab()
        let os1 = try lab.publishOS("1")
        let web1 = try lab.publishApp("web", version: "1", body: page + "1")
        let web2 = try lab.publishApp("web", version: "2", body: page + "2")
        try lab.addTarget("1", os: os1, apps: ["web": web1])
        #expect(try lab.otter(["update"]).status == 100)
        try await lab.reboot()
        #expect(try lab.otter(["health"]).status == 0)
        return (lab, os1, web2)
    }

    /// `otter daemon --interval 1` on the lab's device, its log in the lab's folder.
    func startDaemon(_ lab: DeviceLab, notify listener: NotifyListener, env extra: [String: String] = [:]) throws -> (Process, String) {
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: builtProduct("otter"))
        daemon.arguments = ["daemon", "--sysroot", lab.sysroot, "--interval", "1"]
        daemon.environment = ProcessInfo.processInfo.environment.merging([
            "OTTER_SIMULATED_BOOT_FILE": lab.bootFile, "NOTIFY_SOCKET": listener.path,
        ].merging(extra) { $1 }) { $1 }
        daemon.standardOutput = FileHandle.nullDevice
        let logPath = lab.temp.path + "/daemon.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        daemon.standardError = FileHandle(forWritingAtPath: logPath)
        try daemon.run()
        return (daemon, logPath)
    }

    /// The PIDs of a process's children.
    func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func residentKilobytes(_ pid: Int32) -> Int? {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.dropFirst("VmRSS:".count).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") }
    }

    /// Between checks the daemon is otter-supervisor alone (same PID, no child, a few MB); each
    /// check is a child process, the watchdog is fed while one runs, and a check killed with
    /// SIGKILL mid-update is logged and the next check finishes the update.
    @Test func eachCheckIsAChildProcessAndAKilledCheckDoesNotStopTheDaemon() async throws {
        let (lab, os1, web2) = try await deviceOnTarget1(page: "ok k")

        let listener = try NotifyListener(path: lab.temp.path + "/notify.sock")
        // systemd's watchdog every 0.4 s: the supervisor pings every 0.2 s.
        let (daemon, logPath) = try startDaemon(lab, notify: listener, env: ["WATCHDOG_USEC": "400000"])
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        let pid = daemon.processIdentifier
        let log = { String(((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").suffix(4000)) }
        var messages = listener.receive(until: "READY=1", seconds: 30)
        #expect(messages.contains { $0.contains("READY=1") }, "sd_notify READY: \(log())")
        let image = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        #expect(image.hasSuffix("/otter-supervisor"), "otter daemon became the supervisor, same PID: \(image)")

        // Target 2 appears; the first check that runs is killed with SIGKILL.
        try lab.addTarget("2", os: os1, apps: ["web": web2])
        var killed: Int32?
        for _ in 0..<3000 where killed == nil {
            if let child = children(of: pid).first {
                try await Task.sleep(for: .milliseconds(Int.random(in: 50...400)))
                if kill(child, SIGKILL) == 0 { killed = child }
            } else {
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        #expect(killed != nil, "a check ran as a child process")
        var version: String?
        for _ in 0..<240 {
            version = try lab.currentVersion()
            if version == "2" { break }
            messages += listener.receive(until: "\u{0}", seconds: 0.5)
        }
        #expect(version == "2", "the next check finished the update: \(log())")
        #expect(lab.appPage() == "ok k2")
        #expect(log().contains("the check ended with signal 9"), "the killed check is logged: \(log())")

        // Idle: no child, and the daemon's memory is the supervisor's.
        var idleKilobytes: Int?
        for _ in 0..<100 {
            if children(of: pid).isEmpty, let rss = residentKilobytes(pid) { idleKilobytes = rss; break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let rss = try #require(idleKilobytes, "the daemon is idle between checks")
        #expect(rss < 20 * 1024, "idle daemon RSS \(rss) kB")
        messages += listener.receive(until: "\u{0}", seconds: 1.5)
        let pings = messages.filter { $0.contains("WATCHDOG=1") }.count
        #expect(pings >= 10, "WATCHDOG=1 every 0.2 s while checks ran and in between (\(pings) in \(messages.count) messages)")

        kill(pid, SIGTERM)
        let stopped = Date().addingTimeInterval(15)
        while daemon.isRunning && Date() < stopped { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!daemon.isRunning && daemon.terminationStatus == 0, "SIGTERM stops the daemon with status 0")
        #expect(children(of: pid).isEmpty)
    }

    /// SIGTERM while a check runs reaches the check (it stops between steps) and the daemon
    /// exits 0 once it has; the update resumes at the next start.
    @Test func sigtermDuringACheckStopsTheCheckAndTheDaemon() async throws {
        let (lab, os1, web2) = try await deviceOnTarget1(page: "ok t")

        // Short receives: the notify socket is drained while the test polls (a full queue
        // drops the daemon's datagrams, as with a systemd that stopped reading).
        let listener = try NotifyListener(path: lab.temp.path + "/notify.sock", receiveTimeout: timeval(tv_sec: 0, tv_usec: 2000))
        let (daemon, logPath) = try startDaemon(lab, notify: listener)
        defer { if daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
        let pid = daemon.processIdentifier
        var messages = listener.receive(until: "READY=1", seconds: 30)
        try lab.addTarget("2", os: os1, apps: ["web": web2])
        var check: Int32?
        for _ in 0..<3000 where check == nil {
            check = children(of: pid).first
            if check == nil { messages += listener.receive(until: "\u{0}", seconds: 0.005) }
        }
        let child = try #require(check, "a check ran as a child process")
        kill(pid, SIGTERM)
        let stopped = Date().addingTimeInterval(60)
        while daemon.isRunning && Date() < stopped { messages += listener.receive(until: "STOPPING=1", seconds: 0.05) }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(!daemon.isRunning && daemon.terminationStatus == 0, "the daemon stopped with status 0: \(log.suffix(3000))")
        #expect(kill(child, 0) != 0, "the check process ended too")
        messages += listener.receive(until: "STOPPING=1", seconds: 1)
        #expect(messages.contains { $0.contains("STOPPING=1") })

        // The next start finishes whatever the stopped check left.
        let run = try lab.otter(["daemon", "--cycles", "1", "--interval", "0.1"])
        #expect(run.status == 0, "\(run.err)")
        #expect(try lab.currentVersion() == "2", "\(run.err)")
        #expect(lab.appPage() == "ok t2")
    }
}
