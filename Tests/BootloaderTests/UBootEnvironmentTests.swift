import Foundation
import Testing
@testable import Bootloader

/// The U-Boot backend against the real tools: images from `mkenvimage`, read and written by
/// libubootenv's `fw_printenv`/`fw_setenv` with the same `fw_env.config`.
@Suite struct UBootEnvironmentTests {
    static let size = 0x2000

    /// A single environment image plus its config.
    func single(_ dir: TempDir, _ vars: String = "bootlimit=3\nbootcount=0\nfoo=bar baz\n") throws -> String {
        try writeText(vars, to: dir.file("vars.txt"))
        try tool(["mkenvimage", "-s", String(Self.size), "-o", dir.file("env.bin"), dir.file("vars.txt")])
        try writeText("# single copy\n\(dir.file("env.bin")) 0x0 0x\(String(Self.size, radix: 16))\n", to: dir.file("fw_env.config"))
        return dir.file("fw_env.config")
    }

    /// A redundant environment: two `mkenvimage -r` copies in one file (offsets 0 and size).
    func redundant(_ dir: TempDir, _ vars: String = "bootlimit=3\nbootcount=0\nfoo=bar baz\n") throws -> String {
        try writeText(vars, to: dir.file("vars.txt"))
        try tool(["mkenvimage", "-r", "-s", String(Self.size), "-o", dir.file("copy.bin"), dir.file("vars.txt")])
        let copy = try bytes(of: dir.file("copy.bin"))
        try Data(copy + copy).write(to: URL(fileURLWithPath: dir.file("env.bin")))
        try writeText("""
            \(dir.file("env.bin")) 0x0000 \(String(Self.size, radix: 16)) 0x1000
            \(dir.file("env.bin")) \(Self.size) 0x\(String(Self.size, radix: 16)) 0x1000

            """, to: dir.file("fw_env.config"))
        return dir.file("fw_env.config")
    }

    func flags(_ path: String) throws -> [UInt8] {
        let image = try bytes(of: path)
        return [image[4], image[Self.size + 4]]
    }

    @Test func readsSingleEnvironmentMadeByMkenvimage() throws {
        let dir = TempDir()
        let env = try UBootEnvironment(configPath: try single(dir))
        #expect(try env.variables() == ["bootlimit": "3", "bootcount": "0", "foo": "bar baz"])
        #expect(try env.status().copies == [.valid(flags: nil)])
    }

    @Test func fwPrintenvReadsWhatOtterWroteToSingleEnvironment() throws {
        let dir = TempDir()
        let config = try single(dir)
        let env = try UBootEnvironment(configPath: config)
        try env.apply(["foo": nil, "kernel_image": "/boot/vmlinuz-2", "bootargs": "root=/dev/vda2 ostree=/ostree/boot.1"])
        #expect(try printenv(config) == ["bootlimit": "3", "bootcount": "0", "kernel_image": "/boot/vmlinuz-2",
                                         "bootargs": "root=/dev/vda2 ostree=/ostree/boot.1"])
        #expect(try bytes(of: dir.file("env.bin")).count == Self.size)
    }

    @Test func readsWhatFwSetenvWroteToSingleEnvironment() throws {
        let dir = TempDir()
        let config = try single(dir)
        try tool(["fw_setenv", "-c", config, "bootcount", "2"])
        try tool(["fw_setenv", "-c", config, "foo"])
        let env = try UBootEnvironment(configPath: config)
        #expect(try env.variables() == ["bootlimit": "3", "bootcount": "2"])
    }

    @Test func readsRedundantEnvironmentMadeByMkenvimage() throws {
        let dir = TempDir()
        let env = try UBootEnvironment(configPath: try redundant(dir))
        #expect(env.config.isRedundant)
        #expect(try env.variables()["foo"] == "bar baz")
        #expect(try env.status() == .init(copies: [.valid(flags: 1), .valid(flags: 1)], current: 0))
    }

    @Test func redundantWriteGoesToInactiveCopyWithNextFlag() throws {
        let dir = TempDir()
        let config = try redundant(dir)
        let env = try UBootEnvironment(configPath: config)
        let before = try bytes(of: dir.file("env.bin"))

        try env.set("foo", to: "one")
        let afterFirst = try bytes(of: dir.file("env.bin"))
        #expect(Array(afterFirst[0..<Self.size]) == Array(before[0..<Self.size]), "the current copy must not be touched")
        #expect(try flags(dir.file("env.bin")) == [1, 2])
        #expect(try env.status().current == 1)
        #expect(try printenv(config)["foo"] == "one")

        try env.set("foo", to: "two")
        #expect(try flags(dir.file("env.bin")) == [3, 2])
        #expect(try env.status().current == 0)
        #expect(try printenv(config)["foo"] == "two")
    }

    @Test func otterAndFwSetenvWritesAlternateCopies() throws {
        let dir = TempDir()
        let config = try redundant(dir)
        let env = try UBootEnvironment(configPath: config)
        try env.set("step", to: "otter-1")                          // copy 1, flag 2
        try tool(["fw_setenv", "-c", config, "step", "tool-2"])     // copy 0, flag 3
        #expect(try flags(dir.file("env.bin")) == [3, 2])
        #expect(try env.value(of: "step") == "tool-2")
        try env.set("step", to: "otter-3")                          // copy 1, flag 4
        #expect(try flags(dir.file("env.bin")) == [3, 4])
        try tool(["fw_setenv", "-c", config, "step", "tool-4"])     // copy 0, flag 5
        #expect(try flags(dir.file("env.bin")) == [5, 4])
        #expect(try env.value(of: "step") == "tool-4")
        #expect(try printenv(config)["step"] == "tool-4")
    }

    @Test func corruptCurrentCopyFallsBackToTheOtherLikeFwPrintenv() throws {
        let dir = TempDir()
        let config = try redundant(dir)
        let env = try UBootEnvironment(configPath: config)
        try env.set("foo", to: "new")                               // copy 1 current, flag 2
        // A power cut that tore the write of copy 1: one byte of its data area differs.
        try overwriteByte(in: dir.file("env.bin"), at: Self.size + 5, with: UInt8(ascii: "X"))

        #expect(try env.value(of: "foo") == "bar baz")
        let status = try env.status()
        #expect(status.current == 0)
        #expect(status.copies[0] == .valid(flags: 1))
        #expect(!status.copies[1].isValid)
        #expect(try printenv(config)["foo"] == "bar baz")

        // The next write repairs the damaged copy and makes it current.
        try env.set("foo", to: "again")
        #expect(try env.status() == .init(copies: [.valid(flags: 1), .valid(flags: 2)], current: 1))
        #expect(try printenv(config)["foo"] == "again")
    }

    /// A power cut at any byte of a redundant write: the copy being written is torn, the copy U-Boot
    /// booted with is untouched, so Otter and fw_printenv both read the environment from before.
    @Test(arguments: [1, 4, 5, 6, 0x100, UBootEnvironmentTests.size - 1])
    func tornRedundantWriteKeepsThePreviousEnvironment(bytesWritten: Int) throws {
        let dir = TempDir()
        let config = try redundant(dir)
        let env = try UBootEnvironment(configPath: config)
        try env.set("foo", to: "before")                            // copy 1 current, flag 2
        let torn = try UBootEnvironmentImage(variables: ["foo": "after", "bootlimit": "3", "bootcount": "0"], flags: 3)
            .encode(size: Self.size, path: "test")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: dir.file("env.bin")))
        try handle.seek(toOffset: 0)                                 // the write Otter would make next, cut short
        handle.write(Data(torn[0..<bytesWritten]))
        try handle.close()

        #expect(try env.value(of: "foo") == "before")
        #expect(try env.status().current == 1)
        #expect(try printenv(config)["foo"] == "before")
    }

    @Test func flagCounterWrapsFrom255To0LikeLibubootenv() throws {
        let dir = TempDir()
        let config = try redundant(dir)
        let env = try UBootEnvironment(configPath: config)
        let first = try UBootEnvironmentImage(variables: ["which": "flag255"], flags: 255).encode(size: Self.size, path: "test")
        let second = try UBootEnvironmentImage(variables: ["which": "flag0"], flags: 0).encode(size: Self.size, path: "test")
        try Data(first + second).write(to: URL(fileURLWithPath: dir.file("env.bin")))
        #expect(try printenv(config)["which"] == "flag0")
        #expect(try env.value(of: "which") == "flag0")
        try env.set("which", to: "flag1")
        #expect(try flags(dir.file("env.bin")) == [1, 0])
        #expect(try printenv(config)["which"] == "flag1")
    }

    @Test func corruptEnvironmentIsReportedAndNeverOverwritten() throws {
        let dir = TempDir()
        let config = try single(dir)
        try overwriteByte(in: dir.file("env.bin"), at: 0x100, with: UInt8(ascii: "X"))
        let before = try bytes(of: dir.file("env.bin"))
        let env = try UBootEnvironment(configPath: config)

        #expect(throws: BootloaderError.self) { try env.variables() }
        do {
            try env.armUpgrade()
            Issue.record("arming a corrupt environment must fail")
        } catch let error as BootloaderError {
            guard case .corruptEnvironment(let path, let detail) = error else {
                Issue.record("unexpected error \(error)"); return
            }
            #expect(path == config)
            #expect(detail.contains("CRC mismatch"))
        }
        #expect(try bytes(of: dir.file("env.bin")) == before)
        #expect(try env.status().current == nil)
        #expect(try runTool(["fw_printenv", "-c", config]).status != 0, "the real tool agrees that it is corrupt")

        try env.reinitialize(with: ["bootlimit": "3"])
        #expect(try printenv(config) == ["bootlimit": "3"])
    }

    @Test func bothCopiesCorruptIsReported() throws {
        let dir = TempDir()
        let config = try redundant(dir)
        try overwriteByte(in: dir.file("env.bin"), at: 0x10, with: UInt8(ascii: "X"))
        try overwriteByte(in: dir.file("env.bin"), at: Self.size + 0x10, with: UInt8(ascii: "X"))
        let env = try UBootEnvironment(configPath: config)
        #expect(throws: BootloaderError.self) { try env.set("foo", to: "x") }
        #expect(try env.status().copies.allSatisfy { !$0.isValid })
        try env.reinitialize(with: ["a": "1"])
        #expect(try printenv(config) == ["a": "1"])
        #expect(try env.status() == .init(copies: [.valid(flags: 1), .valid(flags: 0)], current: 0))
    }

    @Test func fullEnvironmentIsRejectedWithoutWriting() throws {
        let dir = TempDir()
        let config = try single(dir)
        let before = try bytes(of: dir.file("env.bin"))
        let env = try UBootEnvironment(configPath: config)
        #expect(throws: BootloaderError.self) { try env.set("big", to: String(repeating: "x", count: Self.size)) }
        #expect(try bytes(of: dir.file("env.bin")) == before)
    }

    @Test func repeatingAnUnchangedWriteLeavesTheEnvironmentAlone() throws {
        let dir = TempDir()
        let env = try UBootEnvironment(configPath: try redundant(dir))
        try env.armUpgrade()
        let armed = try bytes(of: dir.file("env.bin"))
        try env.armUpgrade()
        #expect(try bytes(of: dir.file("env.bin")) == armed)
        #expect(try flags(dir.file("env.bin")) == [1, 2])
    }

    @Test func writeWaitsForTheToolsLockHolder() throws {
        let dir = TempDir()
        let config = try redundant(dir)
        let lock = dir.file("fw_printenv.lock")
        // Another writer (fw_setenv, a shell script) holds the lock for a second.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/flock")
        holder.arguments = [lock, "sh", "-c", "touch \(dir.file("held")); sleep 1; touch \(dir.file("released"))"]
        try holder.run()
        defer { holder.waitUntilExit() }
        while !FileManager.default.fileExists(atPath: dir.file("held")) { usleep(10_000) }

        try UBootEnvironment(configPath: config, lockPath: lock).set("foo", to: "after-lock")
        #expect(FileManager.default.fileExists(atPath: dir.file("released")), "the write ran only after the holder let go")
        #expect(try printenv(config)["foo"] == "after-lock")
    }

    @Test func armUpgradeAndMarkBootSuccessfulAreWhatFwPrintenvSees() throws {
        let dir = TempDir()
        let config = try redundant(dir, "bootlimit=3\nbootcount=5\nrollback=1\n")
        let env = try UBootEnvironment(configPath: config)
        try env.armUpgrade()
        let armed = try printenv(config)
        #expect(armed["upgrade_available"] == "1")
        #expect(armed["bootcount"] == "0")
        #expect(armed["rollback"] == "0")
        #expect(try flags(dir.file("env.bin")) == [1, 2], "arming is one write")

        // U-Boot's boot script counts boots past the limit and sets rollback.
        try tool(["fw_setenv", "-c", config, "bootcount", "4"])
        try tool(["fw_setenv", "-c", config, "rollback", "1"])
        let state = try env.state()
        #expect(state == BootState(upgradeAvailable: true, bootCount: 4, bootLimit: 3, rollback: true))
        #expect(state.bootLimitExceeded)

        try env.markBootSuccessful()
        let cleared = try printenv(config)
        #expect(cleared["upgrade_available"] == "0")
        #expect(cleared["bootcount"] == "0")
        #expect(try !env.state().upgradeAvailable)
    }
}

@Suite struct FWEnvConfigTests {
    @Test func parsesHexDecimalCommentsAndSectorSize() throws {
        let config = try FWEnvConfig(parsing: """
            # MTD device name   Device offset   Env. size   Flash sector size
            /dev/mmcblk0   0x3fe000   0x2000   0x2000   # primary
            /dev/mmcblk0\t4186112\t2000
            """)
        #expect(config.copies == [
            .init(device: "/dev/mmcblk0", offset: 0x3fe000, size: 0x2000, sectorSize: 0x2000),
            .init(device: "/dev/mmcblk0", offset: 4186112, size: 0x2000),
        ])
        #expect(config.isRedundant)
        #expect(try FWEnvConfig(parsing: config.text) == config)
    }

    @Test func sizesAreHexEvenWithoutPrefixLikeTheTools() throws {
        #expect(try FWEnvConfig(parsing: "/dev/a 8192 8192\n").copies == [.init(device: "/dev/a", offset: 8192, size: 0x8192)])
        #expect(try FWEnvConfig(parsing: "/dev/a 010 0x100\n").copies[0].offset == 8)
    }

    @Test func rejectsMalformedConfigWithLineNumber() {
        #expect(throws: BootloaderError.invalidConfiguration(path: "fw_env.config", line: 2, detail: "offset \"zz\" is not a number")) {
            try FWEnvConfig(parsing: "/dev/a 0 0x2000\n/dev/a zz 0x2000\n")
        }
        #expect(throws: BootloaderError.self) { try FWEnvConfig(parsing: "# nothing\n") }
        #expect(throws: BootloaderError.self) { try FWEnvConfig(parsing: "/dev/a 0 0x2000\n/dev/a 0x2000 0x4000\n") }
        #expect(throws: BootloaderError.self) { try FWEnvConfig(parsing: "a 0 0x2000\nb 0 0x2000\nc 0 0x2000\n") }
    }

    @Test func crc32MatchesKnownVector() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}
