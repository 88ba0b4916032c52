import Bootloader
import Foundation
import Testing
import TestSupport

/// Otter's U-Boot boot script, compiled by mkimage and run by real U-Boot (Debian's u-boot-qemu
/// 2023.01, qemu_arm, in qemu-system-arm -M virt). The disk is one FAT partition holding boot.scr,
/// a fake ostree /boot (uEnv.txt with two deployments, "kernels" that are text files) and, for the
/// file store, otter-env.txt. U-Boot's distro boot finds boot.scr, the script prints its
/// `otter: ...` markers, the fake kernel fails `bootz`, the script resets and `-no-reboot` ends
/// QEMU: one QEMU run is one boot (≈2.6 s here). The counter persists across runs in otter-env.txt
/// (this build's `saveenv` to pflash fails: "Flash buffer write timeout"), which Otter reads and
/// writes through its "file" backend (PlainFileEnvironment + BootCounter).
@Suite(.serialized) struct UBootScriptTests {
    static let uEnv = """
        kernel_image=/ostree/os-new/vmlinuz
        ramdisk_image=/ostree/os-new/initramfs.img
        bootargs=ostree=/ostree/boot.1/os/new/0 root=LABEL=otroot
        bootdir=/ostree/os-new/
        kernel_image2=/ostree/os-old/vmlinuz
        ramdisk_image2=/ostree/os-old/initramfs.img
        bootargs2=ostree=/ostree/boot.1/os/old/0 root=LABEL=otroot
        bootdir2=/ostree/os-old/

        """
    static let newKernel = "otter: booting kernel_image /ostree/os-new/vmlinuz ramdisk /ostree/os-new/initramfs.img bootargs ostree=/ostree/boot.1/os/new/0 root=LABEL=otroot"
    static let oldKernel = "otter: booting kernel_image2 /ostree/os-old/vmlinuz ramdisk /ostree/os-old/initramfs.img bootargs ostree=/ostree/boot.1/os/old/0 root=LABEL=otroot"

    /// A disk with boot.scr, the fake ostree /boot and (if given) otter-env.txt.
    static func makeDisk(counterFile: String?) throws -> FATDisk {
        try FATDisk(label: "uboot") { tree in
            try tool("mkimage", ["-A", "arm", "-T", "script", "-C", "none", "-n", "otter boot script",
                                 "-d", repoPath("bootloader/u-boot/boot.cmd"), tree + "/boot.scr"])
            try write(UBootScriptTests.uEnv, to: tree + "/boot/loader/uEnv.txt")
            for slot in ["new", "old"] {
                try write("not a zImage (\(slot))\n", to: tree + "/boot/ostree/os-\(slot)/vmlinuz")
                try write("not an initramfs (\(slot))\n", to: tree + "/boot/ostree/os-\(slot)/initramfs.img")
            }
            if let counterFile { try write(counterFile, to: tree + "/otter-env.txt") }
        }
    }

    /// One boot: U-Boot in QEMU until the script resets (or 120 s: the whole test suite runs in parallel on 2 cores). Returns the `otter:` lines.
    static func boot(_ disk: FATDisk, input: [(after: String, send: String)] = []) throws -> [String] {
        let started = Date()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["120", "qemu-system-arm", "-M", "virt", "-nographic", "-no-reboot", "-nic", "none",
                             "-bios", "/usr/lib/u-boot/qemu_arm/u-boot.bin",
                             "-drive", "if=none,file=\(disk.image),format=raw,id=d0",
                             "-device", "virtio-blk-device,drive=d0"]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        var console = ""
        var pending = input
        // Read the console as it comes, answering each prompt once; EOF when QEMU exits.
        while true {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            console += String(decoding: chunk, as: UTF8.self)
            if let next = pending.first, console.contains(next.after) {
                pending.removeFirst()
                stdin.fileHandleForWriting.write(Data(next.send.utf8))
            }
        }
        process.waitUntilExit()
        let seconds = Date().timeIntervalSince(started)
        try console.write(toFile: disk.dir + "/console-\(Int(started.timeIntervalSince1970 * 1000)).log", atomically: true, encoding: .utf8)
        let lines = console.split(whereSeparator: \.isNewline).map(String.init).filter { $0.hasPrefix("otter:") }
        print("u-boot boot: \(String(format: "%.1f", seconds)) s, \(lines.count) otter lines")
        #expect(process.terminationStatus == 0, "QEMU did not end by the script's reset (124 = timed out): \(console.suffix(2000))")
        #expect(lines.last?.hasSuffix("did not boot; resetting") == true, "console: \(console.suffix(2000))")
        return lines
    }

    static func counter(_ disk: FATDisk) throws -> BootState {
        let local = disk.dir + "/otter-env.local"
        try write(try disk.readFile("otter-env.txt"), to: local)
        return try BootCounter(environment: PlainFileEnvironment(path: local)).state()
    }

    /// What Otter writes before the reboot into a new deployment, through its own file backend.
    static func armWithOtter(_ disk: FATDisk) throws {
        let local = disk.dir + "/otter-env.local"
        let environment = PlainFileEnvironment(path: local)
        try environment.apply(["bootlimit": "3"])
        try BootCounter(environment: environment).armUpgrade()
        try disk.putFile("otter-env.txt", from: local)
    }

    @Test func mkimageCompilesTheScript() throws {
        let dir = try makeTemporaryDirectory("mkimage")
        defer { removeTree(dir) }
        try tool("mkimage", ["-A", "arm", "-T", "script", "-C", "none", "-d", repoPath("bootloader/u-boot/boot.cmd"), dir + "/boot.scr"])
        let listing = try tool("dumpimage", ["-l", dir + "/boot.scr"]).out
        #expect(listing.contains("Script"))
    }

    @Test func normalBootPicksTheDefaultDeploymentAndCountsNothing() throws {
        let disk = try Self.makeDisk(counterFile: "bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=0\n")
        let lines = try Self.boot(disk)
        #expect(lines.contains(Self.newKernel))
        #expect(lines.contains("otter: upgrade_available=0 bootcount=0 bootlimit=3 rollback=0 store=file"))
        // Nothing was written: the file is byte for byte what was there.
        #expect(try disk.readFile("otter-env.txt") == "bootcount=0\nbootlimit=3\nrollback=0\nupgrade_available=0\n")
    }

    @Test func upgradeThatSucceedsIsCountedOnceThenCommittedByOtter() throws {
        let disk = try Self.makeDisk(counterFile: "")
        try Self.armWithOtter(disk)
        let first = try Self.boot(disk)
        #expect(first.contains(Self.newKernel))
        var state = try Self.counter(disk)
        #expect(state.upgradeAvailable && state.bootCount == 1 && !state.rollback && !state.bootLimitExceeded)
        // The health check passed: Otter commits through its backend; later boots count nothing.
        let local = disk.dir + "/otter-env.local"
        try BootCounter(environment: PlainFileEnvironment(path: local)).markBootSuccessful()
        try disk.putFile("otter-env.txt", from: local)
        let second = try Self.boot(disk)
        #expect(second.contains(Self.newKernel))
        state = try Self.counter(disk)
        #expect(!state.upgradeAvailable && state.bootCount == 0 && !state.rollback)
    }

    @Test func upgradeThatNeverComesUpFallsBackAfterBootlimitBoots() throws {
        let disk = try Self.makeDisk(counterFile: "")
        try Self.armWithOtter(disk)
        for attempt in 1...3 {
            let lines = try Self.boot(disk)
            #expect(lines.contains(Self.newKernel), "boot \(attempt): \(lines)")
            #expect(lines.contains("otter: upgrade_available=1 bootcount=\(attempt) bootlimit=3 rollback=0 store=file"))
        }
        let fourth = try Self.boot(disk)
        #expect(fourth.contains("otter: bootcount 4 > bootlimit 3: rolling back to the previous deployment"))
        #expect(fourth.contains(Self.oldKernel))
        let state = try Self.counter(disk)
        #expect(state.rollback && !state.upgradeAvailable && state.bootCount == 4 && state.bootLimitExceeded)
        // Counting has stopped; the previous deployment keeps booting until Otter clears rollback.
        let fifth = try Self.boot(disk)
        #expect(fifth.contains(Self.oldKernel))
        #expect(fifth.contains("otter: upgrade_available=0 bootcount=4 bootlimit=3 rollback=1 store=file"))
    }

    @Test func rollbackFlagBootsThePreviousDeploymentWithItsBootargs() throws {
        let disk = try Self.makeDisk(counterFile: "bootcount=0\nbootlimit=3\nrollback=1\nupgrade_available=0\n")
        let lines = try Self.boot(disk)
        #expect(lines.contains(Self.oldKernel))
        #expect(!lines.contains(Self.newKernel))
    }

    /// Without otter-env.txt the script counts in the U-Boot environment and calls saveenv. The
    /// variables are set at the console (this QEMU flash cannot keep a saved environment), then
    /// the script runs from the same prompt.
    @Test func withoutTheCounterFileTheEnvironmentIsCountedAndSaved() throws {
        let disk = try Self.makeDisk(counterFile: nil)
        let commands = "\nsetenv devtype virtio; setenv devnum 0; setenv distro_bootpart 1; "
            + "setenv upgrade_available 1; setenv bootcount 3; setenv bootlimit 3\n"
            + "load virtio 0:1 ${scriptaddr} boot.scr; source ${scriptaddr}\n"
        let lines = try Self.boot(disk, input: [(after: "Hit any key to stop autoboot", send: " "), (after: "=> ", send: commands)])
        #expect(lines.contains("otter: upgrade_available=0 bootcount=4 bootlimit=3 rollback=1 store=env"), "\(lines)")
        #expect(lines.contains(Self.oldKernel))
        let console = try FileManager.default.contentsOfDirectory(atPath: disk.dir).filter { $0.hasPrefix("console-") }
        let log = try read(disk.dir + "/" + console[0])
        #expect(log.contains("Saving Environment to Flash"))
    }

    /// The env side: the default fragment made into a redundant environment with mkenvimage, the
    /// example fw_env.config pointed at a file; fw_setenv/fw_printenv (libubootenv) and Otter's
    /// "uboot" backend read each other's writes.
    @Test func defaultEnvironmentInARedundantFileEnvIsSharedByFwSetenvAndOtter() throws {
        let dir = try makeTemporaryDirectory("fwenv")
        defer { removeTree(dir) }
        try tool("mkenvimage", ["-r", "-s", "0x20000", "-o", dir + "/copy1.img", repoPath("bootloader/u-boot/otter-env.txt")])
        // Copy 1 valid, copy 2 blank (as on a fresh device), at the example's offsets 0 and 0x20000.
        var image = try Data(contentsOf: URL(fileURLWithPath: dir + "/copy1.img"))
        #expect(image.count == 0x20000)
        image.append(Data(count: 0x20000))
        try image.write(to: URL(fileURLWithPath: dir + "/env.img"))
        let example = try read(repoPath("bootloader/u-boot/fw_env.config"))
        #expect(example.components(separatedBy: "/dev/mmcblk0boot1").count == 3, "the example has two copies")
        try write(example.replacingOccurrences(of: "/dev/mmcblk0boot1", with: dir + "/env.img"), to: dir + "/fw_env.config")

        let printed = Set(try tool("fw_printenv", ["-c", dir + "/fw_env.config"]).out.split(separator: "\n").map(String.init))
        #expect(printed == ["bootlimit=3", "upgrade_available=0", "bootcount=0", "rollback=0"])
        let environment = try UBootEnvironment(configPath: dir + "/fw_env.config", lockPath: dir + "/fw_printenv.lock")
        let counter = BootCounter(environment: environment)
        #expect(try counter.state() == BootState(upgradeAvailable: false, bootCount: 0, bootLimit: 3, rollback: false))
        try counter.armUpgrade()
        #expect(try tool("fw_printenv", ["-c", dir + "/fw_env.config", "-n", "upgrade_available"]).out == "1\n")
        // What the boot script leaves after the fourth failed boot (setexpr writes hex: 4 is 4).
        try tool("fw_setenv", ["-c", dir + "/fw_env.config", "bootcount", "4"])
        try tool("fw_setenv", ["-c", dir + "/fw_env.config", "rollback", "1"])
        try tool("fw_setenv", ["-c", dir + "/fw_env.config", "upgrade_available", "0"])
        let state = try counter.state()
        #expect(state.rollback && state.bootCount == 4 && state.bootLimitExceeded && !state.upgradeAvailable)
        #expect(try environment.status().copies.allSatisfy { $0.isValid }, "both redundant copies are valid after the writes")
    }
}
