import Foundation

/// A throw-away directory for the config, health, callback and notify tests, removed on deinit.
final class HealthScratchDirectory: @unchecked Sendable {
    let path: String

    init(_ label: String = "otter-health") throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` at `relative` (parents created), with `mode`.
    @discardableResult
    func write(_ relative: String, _ text: String, mode: Int = 0o644) throws -> String {
        let file = "\(path)/\(relative)"
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        // O_CLOEXEC: a write descriptor leaked into a program another test spawns meanwhile would
        // make exec of this script fail with ETXTBSY for as long as that program runs.
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno)!) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, chmod(file, mode_t(mode)) == 0 else { throw POSIXError(.EIO) }
        return file
    }

    /// A `#!/bin/sh` script, executable.
    @discardableResult
    func script(_ relative: String, _ body: String) throws -> String {
        try write(relative, "#!/bin/sh\n\(body)\n", mode: 0o755)
    }

    func read(_ relative: String) -> String? {
        try? String(contentsOfFile: "\(path)/\(relative)", encoding: .utf8)
    }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: "\(path)/\(relative)", withIntermediateDirectories: true)
    }
}

/// True once `pid` is gone: no such process, or a zombie only init has yet to reap (this
/// container's PID 1 may never reap orphans; a zombie runs nothing).
func processHasEnded(_ pid: Int32) -> Bool {
    if kill(pid, 0) != 0 && errno == ESRCH { return true }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return true }
    let state = stat[stat.index(close, offsetBy: 2)...].prefix(1)
    return state == "Z" || state == "X"
}

/// Waits up to `seconds` for `pid` to end (a killed orphan is reparented and reaped asynchronously).
func waitForProcessEnd(_ pid: Int32, seconds: Double = 3) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if processHasEnded(pid) { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return processHasEnded(pid)
}

/// Lines captured from a runner's log closure.
final class HealthLogLines: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String] = []

    var lines: [String] { lock.withLock { storage } }
    var sink: @Sendable (String) -> Void { { line in self.lock.withLock { self.storage.append(line) } } }
}
