import Foundation
import TestSupport

/// `otter-factory serve` over a factory directory on two free loopback ports (device mTLS and
/// registration), stopped by PID; helpers to register a device with the real `otter register`
/// and read the fleet view with `otter-factory devices show`.
final class GatewayLab: @unchecked Sendable {
    let factory: String
    let log: String
    let port = freeLoopbackPort()
    let registrationPort = freeLoopbackPort()
    private var server: Process?

    init(factory: String) throws {
        self.factory = factory
        log = factory + "/../gateway.log"
        try start()
    }

    deinit { stop() }

    var url: String { "https://127.0.0.1:\(port)" }
    var registrationURL: String { "https://127.0.0.1:\(registrationPort)" }
    var rootCA: String { factory + "/pki/root.crt" }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: builtProduct("otter-factory"))
        process.arguments = ["serve", "--factory", factory, "--listen", "127.0.0.1:\(port)", "--register-listen", "127.0.0.1:\(registrationPort)"]
        if !FileManager.default.fileExists(atPath: log) { FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = FileHandle(forWritingAtPath: log)!
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        server = process
        for _ in 0..<300 {
            if accepts(port) && accepts(registrationPort) { return }
            guard process.isRunning else { break }
            usleep(50_000)
        }
        throw FixtureError("otter-factory serve did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    func stop() {
        guard let server, server.isRunning else { return }
        kill(server.processIdentifier, SIGKILL)
        server.waitUntilExit()
    }

    func factoryCLI(_ args: [String]) throws -> String {
        let result = try runProcess(builtProduct("otter-factory"), args)
        guard result.status == 0 else { throw FixtureError("otter-factory \(args.joined(separator: " ")): \(result.err)") }
        return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `otter register` into `sysroot` with a fresh token (one that allows production devices
    /// with `production`); returns the device UUID.
    func register(sysroot: String, name: String, hardwareID: String, tag: String = "main", production: Bool = false) throws -> String {
        let token = try factoryCLI(["tokens", "create", "--factory", factory] + (production ? ["--production"] : []))
        let result = try runProcess(builtProduct("otter"), [
            "register", "--factory", registrationURL, "--name", name, "--tag", tag, "--hwid", hardwareID,
            "--token", token, "--ca", rootCA, "--sysroot", sysroot,
        ] + (production ? ["--production"] : []))
        guard result.status == 0 else { throw FixtureError("otter register: \(result.err)") }
        return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `otter-factory devices show UUID --json`.
    func show(_ uuid: String) throws -> [String: Any] {
        let text = try factoryCLI(["devices", "show", uuid, "--factory", factory, "--json", "--events", "100"])
        return try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
    }

    func eventTypes(_ uuid: String) throws -> [String] {
        (try show(uuid)["events"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
    }

    /// The device's fioconfig document (`GET /config`), written into the factory database with
    /// sqlite3 (no `otter-factory` verb sets it yet).
    func setConfig(_ uuid: String, files: [String: String], at time: Double = Date().timeIntervalSince1970) throws {
        let document = Dictionary(uniqueKeysWithValues: files.map { ($0.key, ["Value": $0.value, "Unencrypted": true] as [String: Any]) })
        let body = String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]), as: UTF8.self)
        let sql = "INSERT INTO device_config(device_uuid, body, updated_at) VALUES ('\(uuid)', '\(body.replacingOccurrences(of: "'", with: "''"))', \(time)) "
            + "ON CONFLICT(device_uuid) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at;"
        let result = try runProcess("/usr/bin/sqlite3", [factory + "/factory.db", sql])
        guard result.status == 0 else { throw FixtureError("sqlite3: \(result.err)") }
    }

    private func accepts(_ port: Int) -> Bool { acceptsConnections(port: port) }
}
