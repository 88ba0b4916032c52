import Foundation
import OtterCrypto

// Fixtures for tests that need real OSTree repos and sysroots (OSTreeTests, UpdaterTests).

/// Runs a command and returns its stdout; throws with stderr when it exits non-zero.
@discardableResult
public func sh(_ args: [String], cwd: String? = nil, env: [String: String] = [:], allowFailure: Bool = false) throws -> String {
    let result = try runProcess("/usr/bin/env", args, cwd: cwd, env: env)
    if result.status != 0 && !allowFailure {
        throw ShellError(command: args.joined(separator: " "), status: result.status, stderr: result.err + result.out)
    }
    return result.out
}

public struct ShellError: Error, CustomStringConvertible {
    public let command: String
    public let status: Int32
    public let stderr: String
    public init(command: String, status: Int32, stderr: String) {
        self.command = command
        self.status = status
        self.stderr = stderr
    }
    public var description: String { "`\(command)` exited \(status): \(stderr)" }
}

/// A temporary directory removed at deinit (deployments are immutable: chattr -i first).
public final class TempDir: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "otter-test") {
        var template = Array("/tmp/\(label).XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    public func sub(_ name: String) -> String {
        let p = "\(path)/\(name)"
        try? FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    deinit {
        _ = try? sh(["chattr", "-R", "-i", path], allowFailure: true)
        try? FileManager.default.removeItem(atPath: path)
    }
}

public func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// A deployable root file system: os-release, a kernel and initramfs, and the top-level layout
/// that also lets a test chroot into a deployment ("fake booted", see BootedSysroot).
public func makeRootfs(at dir: String, version: String, payloadFiles: Int = 0, payloadSize: Int = 0, seed: Int = 0) throws {
    let fm = FileManager.default
    for sub in ["usr/etc", "usr/lib/modules/6.1.0", "usr/bin", "usr/share/payload", "opt", "host", "sysroot", "run", "proc", "dev", "tmp", "sys", "boot", "var"] {
        try fm.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
    }
    for (link, target) in [("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin"), ("sbin", "usr/sbin"), ("ostree", "sysroot/ostree")] {
        try? fm.createSymbolicLink(atPath: "\(dir)/\(link)", withDestinationPath: target)
    }
    try write("ID=otter\nPRETTY_NAME=\"Otter test OS \(version)\"\nVERSION_ID=\(version)\n", to: "\(dir)/usr/etc/os-release")
    try write("kernel for \(version)\n", to: "\(dir)/usr/lib/modules/6.1.0/vmlinuz")
    try write("initramfs\n", to: "\(dir)/usr/lib/modules/6.1.0/initramfs.img")
    try write("\(version)\n", to: "\(dir)/usr/bin/otter-test-version")
    // Pseudo-random payload, deterministic per (file, seed) so that two versions share or differ.
    for i in 0..<payloadFiles {
        let bytes = pseudoRandomBytes(payloadSize, seed: UInt64(i &* 2654435761 &+ seed &* 40503 &+ 1))
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/usr/share/payload/f\(i)"))
    }
}

/// Incompressible bytes, the same for the same seed.
public func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for j in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[j] = UInt8(truncatingIfNeeded: state >> 33)
    }
    return bytes
}

/// An archive repo on the "server" side, written with the ostree CLI (an independent peer).
public struct ServerRepo {
    public let path: String

    public init(at path: String) throws {
        self.path = path
        try sh(["ostree", "init", "--repo=\(path)", "--mode=archive"])
    }

    public func commit(_ rootfs: String, branch: String = "os/main", version: String) throws -> String {
        try sh(["ostree", "commit", "--repo=\(path)", "-b", branch, "--subject=Otter test \(version)",
                "--body=body of \(version)", "--add-metadata-string=version=\(version)", rootfs])
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func staticDelta(from: String, to: String) throws {
        try sh(["ostree", "static-delta", "generate", "--repo=\(path)", "--from=\(from)", "--to=\(to)"])
    }

    public func objectPath(_ checksum: String, _ type: String) -> String {
        "\(path)/objects/\(checksum.prefix(2))/\(checksum.dropFirst(2)).\(type)"
    }
}

/// The python loopback server (serve.py, next to this file), stopped by PID.
public final class FileServer: @unchecked Sendable {
    public let process = Process()
    public let port: Int
    public let logPath: String

    public init(directory: String, dieAfterBytes: Int = 0, rate: Int = 0, logPath: String? = nil) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("serve.py").path
        self.logPath = logPath ?? "\(directory)/../server-\(UInt32.random(in: 0...UInt32.max)).log"
        var args = [script, directory, "--log", self.logPath]
        if dieAfterBytes > 0 { args += ["--die-after-bytes", String(dieAfterBytes)] }
        if rate > 0 { args += ["--rate", String(rate)] }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([10]) { break }
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else { throw ShellError(command: "serve.py", status: -1, stderr: "no port") }
        self.port = port
    }

    public var url: String { "http://127.0.0.1:\(port)" }

    public var log: [String] { ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    public func waitForExit() { process.waitUntilExit() }

    public func stop() {
        if process.isRunning {
            // SIGKILL: a child spawned from a dispatch worker inherits its blocked SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }
}

/// A test sysroot: `ostree admin init-fs` + `os-init`, as the CLI makes it.
public func makeSysroot(at path: String, osname: String = "otter") throws {
    try sh(["ostree", "admin", "init-fs", path])
    try sh(["ostree", "admin", "os-init", "--sysroot=\(path)", osname])
}

/// A key pair whose public half is also written as an ostree trusted-keys file.
public struct SigningKey {
    public let key: Ed25519PrivateKey
    public let publicFile: String
    public let secretFile: String

    public init(in dir: String, name: String = "signing") throws {
        key = try Ed25519PrivateKey()
        publicFile = "\(dir)/\(name).pub"
        secretFile = "\(dir)/\(name).sec"
        try write(key.publicKey.base64 + "\n", to: publicFile)
        try write(key.ostreeBase64 + "\n", to: secretFile)
    }
}
