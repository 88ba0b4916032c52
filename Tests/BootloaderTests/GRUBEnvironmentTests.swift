import Foundation
import Testing
@testable import Bootloader

/// The GRUB backend against `grub-editenv` (grub-common), both ways.
@Suite struct GRUBEnvironmentTests {
    @Test func readsWhatGrubEditenvWrote() throws {
        let dir = TempDir()
        let path = dir.file("grubenv")
        try tool(["grub-editenv", path, "create"])
        try tool(["grub-editenv", path, "set", "bootcount=0", "upgrade_available=1", #"path=C:\dir"#, "two=line1\nline2", "empty="])
        let env = GRUBEnvironment(path: path)
        #expect(try env.variables() == ["bootcount": "0", "upgrade_available": "1", "path": #"C:\dir"#,
                                         "two": "line1\nline2", "empty": ""])
    }

    @Test func grubEditenvReadsWhatOtterWrote() throws {
        let dir = TempDir()
        let path = dir.file("grubenv")
        let env = GRUBEnvironment(path: path)
        try env.createIfMissing()
        #expect(try tool(["grub-editenv", path, "list"]) == "")
        try env.apply(["saved_entry": "ostree-1", "slash": #"a\b"#, "multi": "x\ny"])
        #expect(try tool(["grub-editenv", path, "list"]) == "multi=x\ny\nsaved_entry=ostree-1\nslash=a\\b\n")
        #expect(try bytes(of: path).count == 1024)
        try env.unset("slash")
        #expect(try grubList(path)["slash"] == nil)
        // And grub-editenv can keep editing what Otter wrote.
        try tool(["grub-editenv", path, "set", "after=1"])
        #expect(try env.value(of: "after") == "1")
        #expect(try env.value(of: "saved_entry") == "ostree-1")
    }

    @Test func writeRewritesTheBlockInPlaceAsSaveEnvDoesAndLeavesNoTemporary() throws {
        let dir = TempDir()
        let path = dir.file("grubenv")
        try tool(["grub-editenv", path, "create"])
        let inodeBefore = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
        try GRUBEnvironment(path: path).armUpgrade()
        let inodeAfter = try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64
        // On a FAT ESP a rename is not atomic; the same file rewritten allocates nothing.
        #expect(inodeBefore == inodeAfter, "the block is rewritten in place, never a new file renamed over it")
        #expect(try bytes(of: path).count == 1024)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["grubenv"])
        #expect(try grubList(path) == ["upgrade_available": "1", "bootcount": "0", "rollback": "0"])
    }

    @Test func blockWithoutSignatureIsReportedAsCorruptAndKept() throws {
        let dir = TempDir()
        let path = dir.file("grubenv")
        try writeText(String(repeating: "#", count: 1024), to: path)
        let env = GRUBEnvironment(path: path)
        #expect {
            try env.variables()
        } throws: { error in
            guard case BootloaderError.corruptEnvironment(let p, _) = error else { return false }
            return p == path
        }
        #expect(throws: BootloaderError.self) { try env.armUpgrade() }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == String(repeating: "#", count: 1024))
    }

    @Test func fullBlockIsRejectedWithoutWriting() throws {
        let dir = TempDir()
        let path = dir.file("grubenv")
        try tool(["grub-editenv", path, "create"])
        let before = try bytes(of: path)
        #expect(throws: BootloaderError.self) {
            try GRUBEnvironment(path: path).set("big", to: String(repeating: "x", count: 1000))
        }
        #expect(try bytes(of: path) == before)
    }

    @Test func greenbootSchemeSetsCounterAndClearsItOnSuccess() throws {
        let dir = TempDir()
        let path = dir.file("grubenv")
        try tool(["grub-editenv", path, "create"])
        let counter = BootCounter(environment: GRUBEnvironment(path: path), scheme: .greenboot)

        try counter.armUpgrade()
        #expect(try grubList(path) == ["boot_counter": "3", "boot_success": "0"])
        #expect(try counter.state().upgradeAvailable)

        // 08_greenboot.cfg decremented twice, then gave up and booted the previous entry.
        try tool(["grub-editenv", path, "set", "boot_counter=-1"])
        let fallen = try counter.state()
        #expect(fallen.rollback)
        #expect(fallen.bootLimitExceeded)
        #expect(!fallen.upgradeAvailable)

        try counter.armUpgrade()
        try counter.markBootSuccessful()
        #expect(try grubList(path) == ["boot_success": "1"])
        #expect(try counter.state() == BootState(upgradeAvailable: false, bootCount: 0, bootLimit: nil, rollback: false))
    }
}
