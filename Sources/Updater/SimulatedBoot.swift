import Bootloader
import FoundationEssentials
import OSTree

/// TEST ONLY: a stand-in for a real boot on a throw-away sysroot. The file holds
/// `commit=<checksum>` and `boot-id=<id>`; `OSTreeSystem` reads it when configured with
/// `simulatedBootFile`. `reboot(sysroot:flags:)` plays the LmP U-Boot script (REFERENCE.md §7):
/// it counts boots while `upgrade_available=1`, past `bootlimit` sets `rollback=1` and boots the
/// second deployment; otherwise it boots the first.
public struct SimulatedBoot: Sendable {
    public let file: String

    public init(file: String) {
        self.file = file
    }

    public func read() throws -> (commit: String, bootID: String)? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard let commit = values["commit"], let bootID = values["boot-id"] else {
            throw UpdaterError("simulated boot file \(file) needs commit= and boot-id= lines")
        }
        return (commit, bootID)
    }

    public func write(commit: String, bootID: String = UUID().uuidString.lowercased()) throws {
        let directory = String(file[..<(file.lastIndex(of: "/") ?? file.startIndex)])
        if !directory.isEmpty { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try Data("commit=\(commit)\nboot-id=\(bootID)\n".utf8).write(to: URL(fileURLWithPath: file))
    }

    /// Boots the sysroot once as the bootloader would; `failingCommits` never reach user space
    /// (the board resets and the next attempt is counted). Returns the commit now "booted".
    @discardableResult
    public func reboot(sysroot path: String, flags: BootCounterFlags, failingCommits: Set<String> = []) async throws -> String {
        typealias V = BootCounter.Variable
        let deployments = try await Sysroot.load(at: path).deployments()
        guard let first = deployments.first else { throw UpdaterError("no deployment in \(path) to boot") }
        let env = flags.counter.environment
        for _ in 0..<16 {
            var values = try env.variables()
            if values[V.upgradeAvailable] == "1" {
                let count = (Int(values[V.bootCount] ?? "0") ?? 0) + 1
                values[V.bootCount] = String(count)
                var changes: [String: String?] = [V.bootCount: String(count)]
                if count > (Int(values[V.bootLimit] ?? "3") ?? 3) {
                    changes[V.rollback] = "1"
                    changes[V.upgradeAvailable] = "0"
                    values[V.rollback] = "1"
                }
                try env.apply(changes)
            }
            let choice = values[V.rollback] == "1" && deployments.count > 1 ? deployments[1] : first
            if failingCommits.contains(choice.checksum) { continue }
            try write(commit: choice.checksum)
            return choice.checksum
        }
        throw UpdaterError("the simulated board never booted: every deployment fails")
    }
}
