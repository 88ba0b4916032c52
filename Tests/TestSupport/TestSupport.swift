import Foundation

/// Helpers every test target needs: running a real program, and finding a free loopback port.

/// Runs an executable; returns its stdout, stderr and exit status. Stderr is drained on another
/// thread while stdout is read, so a chatty command cannot fill a pipe and stall.
public func runProcess(_ executable: String, _ args: [String], cwd: String? = nil,
                       env: [String: String] = [:]) throws -> (out: String, err: String, status: Int32) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    if !env.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(env) { $1 } }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    final class Box: @unchecked Sendable { var data = Data() }
    let errBox = Box()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errBox.data = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    group.wait()
    process.waitUntilExit()
    return (stdout, String(decoding: errBox.data, as: UTF8.self), process.terminationStatus)
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). Nobody
/// listens on it until the caller starts a server there.
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// The path of an executable product built next to the test bundle (`otter`, `otter-factory`);
/// `OTTER_BIN_DIR` overrides the directory.
public func builtProduct(_ name: String) -> String {
    if let directory = ProcessInfo.processInfo.environment["OTTER_BIN_DIR"] { return "\(directory)/\(name)" }
    return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(name).path
}
