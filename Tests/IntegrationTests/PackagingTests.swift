import Foundation
import Testing
import TestSupport

@Suite struct PackagingTests {
    @Test func installPutsUnitsConfigAndBootFilesIntoADestdir() throws {
        let dest = try makeTemporaryDirectory("install")
        defer { removeTree(dest) }
        let bin = dest + "-bin"
        defer { removeTree(bin) }
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        for name in ["otter", "otter-supervisor"] {
            try write("#!/bin/sh\n", to: bin + "/" + name)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: bin + "/" + name)
        }
        try tool(repoPath("scripts/install"), ["--destdir", dest, "--otter", bin + "/otter", "--bootloader", "grub"])
        for path in ["/usr/bin/otter", "/usr/libexec/otter/otter-supervisor", "/usr/lib/systemd/system/otter.service", "/usr/lib/systemd/system/otter-health.service",
                     "/usr/lib/systemd/system/otter-rollback.service", "/usr/lib/systemd/system/otter-rollback.target",
                     "/usr/share/otter/u-boot/boot.cmd", "/usr/share/otter/grub/grub.cfg", "/usr/libexec/otter/otter-grub-menu"] {
            #expect(FileManager.default.fileExists(atPath: dest + path), "\(path) not installed")
        }
        for dir in ["/etc/otter/conf.d", "/etc/otter/health/required.d", "/etc/otter/health/wanted.d"] {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: dest + dir, isDirectory: &isDirectory) && isDirectory.boolValue)
        }
        let config = try read(dest + "/usr/lib/otter/conf.d/10-bootloader.toml")
        #expect(config.contains("backend = \"grub\""))
        // The key the configuration loader reads for the grub backend (an unknown key is only a warning).
        #expect(config.contains("\ngrubenv = \"/boot/efi/EFI/BOOT/grubenv\"\n"))
        #expect(!config.contains("@"), "every placeholder replaced")
    }

    @Test func installRefusesWithoutABinary() throws {
        let dest = try makeTemporaryDirectory("install-nobin")
        defer { removeTree(dest) }
        let result = try tool(repoPath("scripts/install"), ["--destdir", dest, "--otter", dest + "/missing"], check: false)
        #expect(result.status == 1)
        #expect(result.err.contains("no otter binary at"))

        // otter without otter-supervisor next to it: `otter daemon` would keep every library
        // mapped while idle, so the install stops.
        let lone = dest + "/bin"
        try FileManager.default.createDirectory(atPath: lone, withIntermediateDirectories: true)
        try write("#!/bin/sh\n", to: lone + "/otter")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: lone + "/otter")
        let noSupervisor = try tool(repoPath("scripts/install"), ["--destdir", dest + "/root", "--otter", lone + "/otter"], check: false)
        #expect(noSupervisor.status == 1)
        #expect(noSupervisor.err.contains("no otter-supervisor next to"))
    }

    /// shellcheck on every shell script the repository tracks (warnings and errors).
    @Test func everyShellScriptPassesShellcheck() throws {
        let tracked = try tool("git", ["-C", repoRoot, "ls-files"]).out.split(separator: "\n").map(String.init)
        let scripts = try tracked.filter { path in
            guard let handle = FileHandle(forReadingAtPath: repoPath(path)) else { return false }
            defer { try? handle.close() }
            let head = String(decoding: try handle.read(upToCount: 64) ?? Data(), as: UTF8.self)
            return head.hasPrefix("#!") && (head.split(separator: "\n").first.map { $0.hasSuffix("sh") || $0.hasSuffix("bash") } ?? false)
        }
        #expect(scripts.contains("scripts/install") && scripts.contains("bootloader/grub/otter-grub-menu"))
        let result = try tool("shellcheck", ["--severity=warning"] + scripts.map(repoPath), check: false)
        #expect(result.status == 0, "\(result.out)\(result.err)")
    }
}
