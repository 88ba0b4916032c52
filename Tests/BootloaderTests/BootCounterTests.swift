import Foundation
import Testing
@testable import Bootloader

/// Boot-counting semantics on the plain file backend, the custom script backend and the dispatcher.
@Suite struct BootCounterTests {
    @Test func armUpgradeSetsUpgradeAvailableAndResetsCountAndRollback() throws {
        let dir = TempDir()
        let env = PlainFileEnvironment(path: dir.file("boot.env"))
        try env.apply(["bootlimit": "3", "bootcount": "7", "rollback": "1", "other": "kept"])
        try env.armUpgrade()
        #expect(try env.variables() == ["bootlimit": "3", "bootcount": "0", "rollback": "0", "upgrade_available": "1", "other": "kept"])
        #expect(try env.state() == BootState(upgradeAvailable: true, bootCount: 0, bootLimit: 3, rollback: false))
    }

    @Test func markBootSuccessfulClearsCountAndUpgradeFlag() throws {
        let dir = TempDir()
        let env = PlainFileEnvironment(path: dir.file("boot.env"))
        try env.armUpgrade()
        try env.set("bootcount", to: "2")
        try env.markBootSuccessful()
        #expect(try env.value(of: "bootcount") == "0")
        #expect(try env.value(of: "upgrade_available") == "0")
        #expect(try !env.state().upgradeAvailable)
    }

    @Test func stateReportsBootLimitExceededOnlyPastTheLimit() throws {
        let dir = TempDir()
        let env = PlainFileEnvironment(path: dir.file("boot.env"))
        try env.apply(["bootlimit": "3", "bootcount": "3", "upgrade_available": "1"])
        #expect(try !env.state().bootLimitExceeded)
        try env.set("bootcount", to: "4")
        #expect(try env.state().bootLimitExceeded)
    }

    @Test func missingVariablesReadAsNoUpgradeArmed() throws {
        let dir = TempDir()
        let env = PlainFileEnvironment(path: dir.file("absent.env"))
        #expect(try env.variables() == [:])
        #expect(try env.state() == BootState(upgradeAvailable: false, bootCount: 0, bootLimit: nil, rollback: false))
    }

    @Test func garbageFlagValueIsReportedNotGuessed() throws {
        let dir = TempDir()
        let env = PlainFileEnvironment(path: dir.file("boot.env"))
        try env.set("upgrade_available", to: "yes")
        #expect(throws: BootloaderError.invalidValue(name: "upgrade_available", value: "yes", expected: "0 or 1")) {
            try env.state()
        }
        try env.apply(["upgrade_available": "1", "bootcount": "many"])
        #expect(throws: BootloaderError.self) { try env.state() }
    }

    @Test func plainFileIsNameValueTextWrittenAtomically() throws {
        let dir = TempDir()
        let path = dir.file("boot.env")
        try writeText("# written by hand\nbootlimit=3\n\nbootargs=a=b c\n", to: path)
        let env = PlainFileEnvironment(path: path)
        #expect(try env.variables() == ["bootlimit": "3", "bootargs": "a=b c"])
        try env.set("bootcount", to: "1")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "bootargs=a=b c\nbootcount=1\nbootlimit=3\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["boot.env"])
        #expect(throws: BootloaderError.self) { try env.set("bad", to: "two\nlines") }
        #expect(throws: BootloaderError.self) { try env.set("a=b", to: "1") }
        #expect(try env.value(of: "bad") == nil)
    }

    /// A script keeping one file per variable, the shape of a vendor tool wrapper.
    func script(_ dir: TempDir) throws -> String {
        let path = dir.file("bootenv.sh")
        try writeText("""
            #!/bin/sh
            store="\(dir.path)/vars"
            mkdir -p "$store"
            case "$1" in
              get) [ -f "$store/$2" ] || exit 1; cat "$store/$2" ;;
              set) [ "$2" = readonly ] && { echo "refusing $2" >&2; exit 3; }; printf '%s' "$3" > "$store/$2" ;;
              unset) rm -f "$store/$2" ;;
              *) exit 2 ;;
            esac

            """, to: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }

    @Test func customScriptBackendGetsSetsAndUnsets() throws {
        let dir = TempDir()
        let env = CustomEnvironment(script: try script(dir))
        try env.set("bootlimit", to: "3")
        try env.armUpgrade()
        #expect(try String(contentsOfFile: dir.file("vars/upgrade_available"), encoding: .utf8) == "1")
        #expect(try env.state() == BootState(upgradeAvailable: true, bootCount: 0, bootLimit: 3, rollback: false))
        try env.set("spaced", to: "a b  c")
        #expect(try env.value(of: "spaced") == "a b  c")
        try env.unset("spaced")
        #expect(try env.value(of: "spaced") == nil)
        #expect(throws: BootloaderError.self) { try env.variables() }
    }

    @Test func failingCustomScriptIsReportedWithItsExitStatus() throws {
        let dir = TempDir()
        let path = try script(dir)
        let env = CustomEnvironment(script: path)
        #expect(throws: BootloaderError.scriptFailed(script: path, arguments: ["set", "readonly", "1"], status: 3, output: "")) {
            try env.set("readonly", to: "1")
        }
        #expect(throws: BootloaderError.self) { try CustomEnvironment(script: dir.file("missing.sh")).value(of: "x") }
    }

    @Test func dispatcherChoosesTheBackendByConfigName() throws {
        let dir = TempDir()
        try writeText("\(dir.file("env.bin")) 0 0x2000\n", to: dir.file("fw_env.config"))
        #expect(try BootloaderBackend(name: "uboot").environment(path: dir.file("fw_env.config")) is UBootEnvironment)
        #expect(try BootloaderBackend(name: "grub").environment(path: dir.file("grubenv")) is GRUBEnvironment)
        #expect(try BootloaderBackend(name: "file").environment(path: dir.file("boot.env")) is PlainFileEnvironment)
        #expect(try BootloaderBackend(name: "custom").environment(path: "/bin/true") is CustomEnvironment)
        #expect(throws: BootloaderError.unknownBackend("efi")) { try BootloaderBackend(name: "efi") }
        #expect(throws: BootloaderError.self) { try BootloaderBackend.uboot.environment(path: dir.file("no-such.config")) }

        let counter = try BootloaderBackend.bootCounter(type: "grub", path: dir.file("grubenv"), scheme: "greenboot")
        #expect(counter.scheme == .greenboot)
        #expect(counter.environment.backendName == "grub")
        #expect(throws: BootloaderError.self) { try BootloaderBackend.bootCounter(type: "file", path: "x", scheme: "bogus") }
    }
}
