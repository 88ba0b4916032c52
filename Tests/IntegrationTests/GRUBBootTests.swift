import Bootloader
import Foundation
import Testing
import TestSupport

/// Otter's grub.cfg run by real GRUB 2.06 (Debian's grub-pc-bin) in qemu-system-x86_64 with
/// SeaBIOS: a core image (grub-mkimage, prefix (hd0,msdos1)/boot/grub) behind lnxboot.img is
/// loaded with -kernel; its embedded config only moves GRUB's terminal to the serial port (the
/// BIOS console reaches the serial port through SeaBIOS's screen mirror, which breaks lines at
/// random — a broken "booting entry 0" line once made a boot look like entry 1); the IDE disk's FAT partition holds grub.cfg, grubenv and the menu
/// otter-grub-menu made from two ostree-style BLS entries. The "kernels" are text files, so a boot
/// is over once GRUB prints which entry it boots: QEMU is then killed (by PID) and grubenv read
/// back. Otter writes grubenv through its own GRUBEnvironment + BootCounter.
@Suite(.serialized) struct GRUBBootTests {
    static let coreModules = ["biosdisk", "part_msdos", "fat", "normal", "configfile", "echo", "test", "loadenv",
                              "linux", "search", "search_label", "serial", "terminal"]
    /// Runs before GRUB loads ${prefix}/grub.cfg, the file under test.
    static let serialConsole = "serial --unit=0 --speed=115200\nterminal_input serial\nterminal_output serial\n"

    static func makeDisk() throws -> FATDisk {
        try FATDisk(label: "grub") { tree in
            let grub = tree + "/boot/grub"
            try write(try read(repoPath("bootloader/grub/grub.cfg")), to: grub + "/grub.cfg")
            for (version, slot) in [(1, "old"), (2, "new")] {
                try write("title Debian \(slot)\nversion \(version)\noptions root=LABEL=otroot ostree=/ostree/boot.1/debian/\(slot)/0\n"
                          + "linux /ostree/debian-\(slot)/vmlinuz\ninitrd /ostree/debian-\(slot)/initramfs.img\n",
                          to: tree + "/boot/loader/entries/ostree-\(version)-debian.conf")
                try write("not a kernel\n", to: tree + "/boot/ostree/debian-\(slot)/vmlinuz")
                try write("not an initramfs\n", to: tree + "/boot/ostree/debian-\(slot)/initramfs.img")
            }
            try tool(repoPath("bootloader/grub/otter-grub-menu"), ["--boot-prefix", "/boot", "--search-label", "OTTERBOOT",
                                                                   tree + "/boot/loader/entries", grub + "/otter-entries.cfg"])
            try tool("grub-editenv", [grub + "/grubenv", "create"])
            try tool("grub-editenv", [grub + "/grubenv", "set", "bootlimit=3"])
            try write(serialConsole, to: tree + "/../early.cfg")
            try tool("grub-mkimage", ["-O", "i386-pc", "-o", tree + "/../core.img", "-c", tree + "/../early.cfg",
                                      "-p", "(hd0,msdos1)/boot/grub"] + coreModules)
            let loader = try Data(contentsOf: URL(fileURLWithPath: "/usr/lib/grub/i386-pc/lnxboot.img"))
                + Data(contentsOf: URL(fileURLWithPath: tree + "/../core.img"))
            try loader.write(to: URL(fileURLWithPath: tree + "/../grub.lnx"))
        }
    }

    /// Changes grubenv the way Otter does, through its backend.
    static func withOtter(_ disk: FATDisk, _ change: (BootCounter) throws -> Void, scheme: BootCountingScheme = .upgradeAvailable,
                          attempts: Int = 3) throws {
        let local = disk.dir + "/grubenv.local"
        try disk.copyOut("boot/grub/grubenv", to: local)
        try change(BootCounter(environment: GRUBEnvironment(path: local), scheme: scheme, greenbootMaxBootAttempts: attempts))
        try disk.putFile("boot/grub/grubenv", from: local)
    }

    static func grubenv(_ disk: FATDisk) throws -> Set<String> {
        let local = disk.dir + "/grubenv.read"
        try disk.copyOut("boot/grub/grubenv", to: local)
        return Set(try tool("grub-editenv", [local, "list"]).out.split(separator: "\n").map(String.init))
    }

    /// One GRUB start: the entry GRUB boots first (0 newest, 1 previous) and the `otter:` lines.
    static func boot(_ disk: FATDisk) throws -> (entry: Int?, lines: [String]) {
        let started = Date()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        process.arguments = ["-accel", "tcg", "-m", "256", "-nographic", "-no-reboot", "-nic", "none",
                             "-kernel", disk.dir + "/grub.lnx", "-drive", "file=\(disk.image),format=raw,if=ide"]
        let stdout = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        let pid = process.processIdentifier
        // Never longer than two minutes, whatever GRUB does (a boot takes ≈4 s alone, up to 40 s
        // measured while the whole test suite runs in parallel).
        DispatchQueue.global().asyncAfter(deadline: .now() + 120) { if process.isRunning { kill(pid, SIGKILL) } }
        var console = ""
        var entry: Int?
        while entry == nil {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            console += String(decoding: chunk, as: UTF8.self)
            // GRUB saved grubenv before it printed the entry line: the boot is decided.
            entry = Self.firstEntry(consoleLines(console).joined(separator: "\n"))
        }
        kill(pid, SIGKILL)
        process.waitUntilExit()
        try console.write(toFile: disk.dir + "/console-\(Int(started.timeIntervalSince1970 * 1000)).log", atomically: true, encoding: .utf8)
        print("grub boot: \(String(format: "%.1f", Date().timeIntervalSince(started))) s, entry \(entry.map(String.init) ?? "none")")
        #expect(entry != nil, "GRUB never chose an entry: \(console.suffix(2000))")
        return (entry, consoleLines(console).filter { $0.hasPrefix("otter:") })
    }

    static func firstEntry(_ text: String) -> Int? {
        guard let marker = text.range(of: "otter: booting entry "), marker.upperBound < text.endIndex else { return nil }
        return text[marker.upperBound].wholeNumberValue
    }

    static let newEntry = 0
    static let oldEntry = 1

    @Test func committedSystemBootsTheNewestDeploymentAndWritesNothing() throws {
        let disk = try Self.makeDisk()
        let before = try Self.grubenv(disk)
        #expect(try Self.boot(disk).entry == Self.newEntry)
        #expect(try Self.grubenv(disk) == before)
    }

    @Test func upgradeThatNeverComesUpFallsBackToEntryOneAfterBootlimitBoots() throws {
        let disk = try Self.makeDisk()
        try Self.withOtter(disk) { try $0.armUpgrade() }
        for attempt in 1...3 {
            let boot = try Self.boot(disk)
            #expect(boot.entry == Self.newEntry, "boot \(attempt): \(boot.lines)")
            #expect(try Self.grubenv(disk).contains("bootcount=\(attempt)"))
        }
        let fourth = try Self.boot(disk)
        #expect(fourth.lines.contains("otter: bootcount 4 > bootlimit 3: rolling back to the previous deployment"))
        #expect(fourth.entry == Self.oldEntry)
        try Self.withOtter(disk) { counter in
            let state = try counter.state()
            #expect(state.rollback && !state.upgradeAvailable && state.bootCount == 4 && state.bootLimitExceeded)
        }
    }

    @Test func upgradeCommittedByOtterAfterItsFirstBootStopsCounting() throws {
        let disk = try Self.makeDisk()
        try Self.withOtter(disk) { try $0.armUpgrade() }
        #expect(try Self.boot(disk).entry == Self.newEntry)
        try Self.withOtter(disk) { counter in
            #expect(try counter.state().bootCount == 1)
            try counter.markBootSuccessful()
        }
        #expect(try Self.boot(disk).entry == Self.newEntry)
        #expect(try Self.grubenv(disk).isSuperset(of: ["upgrade_available=0", "bootcount=0"]))
    }

    @Test func greenbootCounterRunsOutAndBootsEntryOne() throws {
        let disk = try Self.makeDisk()
        try Self.withOtter(disk, { try $0.armUpgrade() }, scheme: .greenboot, attempts: 1)
        #expect(try Self.boot(disk).entry == Self.newEntry)
        #expect(try Self.grubenv(disk).contains("boot_counter=0"))
        #expect(try Self.boot(disk).entry == Self.oldEntry)
        try Self.withOtter(disk, { (counter: BootCounter) throws in #expect(try counter.state().rollback) }, scheme: .greenboot, attempts: 1)
    }
}
