import Foundation
import Testing
import TestSupport

/// `systemd-analyze verify` (systemd 252 here) on every unit under systemd/, in a scratch root that
/// holds the host's system units (boot-complete.target, sysinit.target, ...), a stub
/// /usr/bin/otter and Otter's units in /etc/systemd/system: verify resolves ExecStart= inside that
/// root, so a missing binary or unknown unit is reported, not skipped.
@Suite struct SystemdUnitTests {
    static let units = ["otter.service", "otter-health.service", "otter-rollback.service", "otter-rollback.target"]

    private func scratchRoot(withOtter: Bool) throws -> String {
        let root = try makeTemporaryDirectory("systemd")
        try FileManager.default.createDirectory(atPath: root + "/usr/lib/systemd", withIntermediateDirectories: true)
        try tool("cp", ["-a", "/usr/lib/systemd/system", root + "/usr/lib/systemd/system"])
        try FileManager.default.createDirectory(atPath: root + "/etc/systemd/system", withIntermediateDirectories: true)
        for unit in Self.units {
            try FileManager.default.copyItem(atPath: repoPath("systemd/" + unit), toPath: root + "/etc/systemd/system/" + unit)
        }
        if withOtter {
            try write("#!/bin/sh\nexit 0\n", to: root + "/usr/bin/otter")
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/usr/bin/otter")
        }
        return root
    }

    @Test(arguments: units)
    func unitVerifiesWithoutAnyMessage(_ unit: String) throws {
        let root = try scratchRoot(withOtter: true)
        defer { removeTree(root) }
        let result = try tool("systemd-analyze", ["verify", "--root=" + root, unit], check: false)
        #expect(result.status == 0, "systemd-analyze verify \(unit): \(result.err)")
        #expect(result.out.isEmpty && result.err.isEmpty, "systemd-analyze verify \(unit) printed: \(result.out)\(result.err)")
    }

    /// The check above is real: without the binary, verify fails and names it.
    @Test func verifyReportsAMissingOtterBinary() throws {
        let root = try scratchRoot(withOtter: false)
        defer { removeTree(root) }
        let result = try tool("systemd-analyze", ["verify", "--root=" + root, "otter.service"], check: false)
        #expect(result.status != 0)
        #expect(result.err.contains("/usr/bin/otter"))
    }

    /// The health verdict gates boot-complete.target, and the agent waits for it.
    @Test func healthServiceIsRequiredByBootCompleteAndTheAgentIsOrderedAfterIt() throws {
        let health = try read(repoPath("systemd/otter-health.service"))
        #expect(health.contains("\nBefore=boot-complete.target\n"))
        #expect(health.contains("\nRequiredBy=boot-complete.target\n"))
        #expect(health.contains("\nExecStart=/usr/bin/otter health\n"))
        let agent = try read(repoPath("systemd/otter.service"))
        #expect(agent.contains("\nType=notify\n") && agent.contains("\nExecStart=/usr/bin/otter daemon\n"))
        #expect(agent.contains("After=network-online.target otter-health.service boot-complete.target"))
        let rollback = try read(repoPath("systemd/otter-rollback.target"))
        #expect(rollback.contains("\nAllowIsolate=yes\n") && rollback.contains("otter-rollback.service"))
    }

    /// Enabled as the recipe enables them (`systemctl --root enable`), the units join the boot
    /// transaction of multi-user.target without an ordering cycle: verify prints nothing.
    @Test func enabledUnitsJoinMultiUserTargetWithoutOrderingCycles() throws {
        let root = try scratchRoot(withOtter: true)
        defer { removeTree(root) }
        try tool("systemctl", ["--root=" + root, "enable", "otter.service", "otter-health.service"])
        // The links point into the image's own /etc (absolute), so read them rather than follow them.
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/systemd/system/boot-complete.target.requires/otter-health.service")
                == "/etc/systemd/system/otter-health.service")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/systemd/system/multi-user.target.wants/otter.service")
                == "/etc/systemd/system/otter.service")
        let result = try tool("systemd-analyze", ["verify", "--root=" + root, "multi-user.target"], check: false)
        #expect(result.out.isEmpty && result.err.isEmpty, "\(result.out)\(result.err)")
    }

    /// ...and that check sees cycles: ordering the health verdict after multi-user.target (which
    /// waits for otter.service, which waits for the verdict) is reported.
    @Test func verifyReportsAnOrderingCycleThroughTheHealthVerdict() throws {
        let root = try scratchRoot(withOtter: true)
        defer { removeTree(root) }
        let health = root + "/etc/systemd/system/otter-health.service"
        try write(try read(health).replacingOccurrences(of: "After=network-online.target docker.service",
                                                         with: "After=network-online.target docker.service multi-user.target"), to: health)
        try tool("systemctl", ["--root=" + root, "enable", "otter.service", "otter-health.service"])
        let result = try tool("systemd-analyze", ["verify", "--root=" + root, "multi-user.target"], check: false)
        #expect(result.err.contains("Found ordering cycle"))
    }
}
