import Bootloader
import Foundation
import Testing
import TestSupport

/// Otter's grub.cfg and the BLS-to-menu generator, checked by GRUB's own parser
/// (grub-script-check), and grubenv written by Otter and by grub-editenv read by the other.
/// (GRUB is not booted here; REFERENCE §11 has the QEMU+OVMF chain issue #10 boots it in.)
@Suite struct GRUBConfigTests {
    @Test func grubCfgParses() throws {
        let result = try tool("grub-script-check", [repoPath("bootloader/grub/grub.cfg")], check: false)
        #expect(result.status == 0, "\(result.out)\(result.err)")
    }

    /// The parser check is real: an unterminated `if` in a copy is refused.
    @Test func grubScriptCheckRefusesABrokenCopy() throws {
        let dir = try makeTemporaryDirectory("grub-broken")
        defer { removeTree(dir) }
        let broken = try read(repoPath("bootloader/grub/grub.cfg")) + "\nif [ x = x ]; then\n  echo never closed\n"
        try write(broken, to: dir + "/grub.cfg")
        let result = try tool("grub-script-check", [dir + "/grub.cfg"], check: false)
        #expect(result.status != 0)
    }

    /// Every variable Otter's BootCounter reads or writes (both schemes) is loaded by grub.cfg,
    /// and the counters it saves are the ones Otter reads.
    @Test func grubCfgLoadsEveryVariableOtterWrites() throws {
        let config = try read(repoPath("bootloader/grub/grub.cfg"))
        let loadLine = config.split(separator: "\n").first { $0.contains("load_env -f") }.map(String.init) ?? ""
        for name in [BootCounter.Variable.upgradeAvailable, BootCounter.Variable.bootCount, BootCounter.Variable.bootLimit,
                     BootCounter.Variable.rollback, BootCounter.Variable.greenbootCounter, BootCounter.Variable.greenbootSuccess] {
            #expect(loadLine.split(separator: " ").contains(Substring(name)), "grub.cfg's load_env does not load \(name)")
        }
        #expect(config.contains("save_env -f \"${prefix}/grubenv\" upgrade_available bootcount rollback"))
        #expect(config.contains("save_env -f \"${prefix}/grubenv\" boot_counter"))
    }

    @Test func otterArmsAndCommitsAGrubenvThatGrubEditenvReads() throws {
        let dir = try makeTemporaryDirectory("grubenv")
        defer { removeTree(dir) }
        let path = dir + "/grubenv"
        try tool("grub-editenv", [path, "create"])
        try tool("grub-editenv", [path, "set", "bootlimit=3"])
        let counter = BootCounter(environment: GRUBEnvironment(path: path))
        try counter.armUpgrade()
        var listed = Set(try tool("grub-editenv", [path, "list"]).out.split(separator: "\n").map(String.init))
        #expect(listed == ["bootlimit=3", "upgrade_available=1", "bootcount=0", "rollback=0"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count == 1024, "GRUB's save_env rewrites the block in place: its size must not change")
        // What grub.cfg leaves after the fourth failed boot, written the way GRUB writes it.
        try tool("grub-editenv", [path, "set", "bootcount=4", "rollback=1", "upgrade_available=0"])
        let state = try counter.state()
        #expect(state.rollback && !state.upgradeAvailable && state.bootCount == 4 && state.bootLimitExceeded)
        try counter.markBootSuccessful()
        listed = Set(try tool("grub-editenv", [path, "list"]).out.split(separator: "\n").map(String.init))
        #expect(listed.contains("upgrade_available=0") && listed.contains("bootcount=0"))
    }

    @Test func greenbootSchemeCountsDownAndFallsBackAtMinusOne() throws {
        let dir = try makeTemporaryDirectory("grubenv-greenboot")
        defer { removeTree(dir) }
        let path = dir + "/grubenv"
        try tool("grub-editenv", [path, "create"])
        let counter = BootCounter(environment: GRUBEnvironment(path: path), scheme: .greenboot)
        try counter.armUpgrade()
        let listed = Set(try tool("grub-editenv", [path, "list"]).out.split(separator: "\n").map(String.init))
        #expect(listed == ["boot_counter=3", "boot_success=0"])
        try tool("grub-editenv", [path, "set", "boot_counter=-1"])
        #expect(try counter.state().rollback)
    }

    @Test func menuGeneratorOrdersDeploymentsNewestFirstAndGrubParsesIt() throws {
        let dir = try makeTemporaryDirectory("grub-menu")
        defer { removeTree(dir) }
        // As ostree writes them: the default deployment has the highest version.
        try write("title Debian v1 (ostree:1)\nversion 1\noptions root=LABEL=otroot ostree=/ostree/boot.1/debian/aaa/0 it's\nlinux /ostree/debian-aaa/vmlinuz-6.1\ninitrd /ostree/debian-aaa/initramfs-6.1.img\n",
                  to: dir + "/entries/ostree-1-debian.conf")
        try write("title Debian v2 (ostree:0)\nversion 2\noptions root=LABEL=otroot ostree=/ostree/boot.1/debian/bbb/0\nlinux /ostree/debian-bbb/vmlinuz-6.1\ninitrd /ostree/debian-bbb/initramfs-6.1.img\n",
                  to: dir + "/entries/ostree-2-debian.conf")
        try tool(repoPath("bootloader/grub/otter-grub-menu"), ["--boot-prefix", "/boot", "--search-label", "otroot", dir + "/entries", dir + "/otter-entries.cfg"])
        let menu = try read(dir + "/otter-entries.cfg")
        let v2 = try #require(menu.range(of: "menuentry 'Debian v2 (ostree:0)' --id otter-0"))
        let v1 = try #require(menu.range(of: "menuentry 'Debian v1 (ostree:1)' --id otter-1"))
        #expect(v2.lowerBound < v1.lowerBound)
        // One word per kernel argument (GRUB double-quotes a word with spaces: the kernel then sees
        // one root= argument holding the whole line, as the real boot in scripts/vm-test showed).
        #expect(menu.contains("linux '/boot/ostree/debian-bbb/vmlinuz-6.1' 'root=LABEL=otroot' \"ostree=$otter_ostree\""))
        #expect(menu.contains("'root=LABEL=otroot' \"ostree=$otter_ostree\" 'it'\\''s'"))
        // The entry's boot link, or the same link under the other /ostree/boot.N when ostree
        // swapped them after this menu was made (a power cut before it was made again).
        #expect(menu.contains("set otter_ostree='/ostree/boot.1/debian/bbb/0'\n  if ! test -e \"$otter_ostree\"; then set otter_ostree='/ostree/boot.0/debian/bbb/0';"))
        let check = try tool("grub-script-check", [dir + "/otter-entries.cfg"], check: false)
        #expect(check.status == 0, "\(check.out)\(check.err)")
    }

    @Test func menuGeneratorFailsOnAnEmptyEntriesDirectory() throws {
        let dir = try makeTemporaryDirectory("grub-menu-empty")
        defer { removeTree(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/entries", withIntermediateDirectories: true)
        let result = try tool(repoPath("bootloader/grub/otter-grub-menu"), [dir + "/entries", dir + "/out.cfg"], check: false)
        #expect(result.status == 1)
        #expect(result.err.contains("no *.conf entries"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.cfg"))
    }
}
