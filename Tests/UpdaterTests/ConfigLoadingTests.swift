import Foundation
import Testing
@testable import Updater

@Suite("OtterConfiguration: conf.d fragments")
struct ConfigLoadingTests {
    @Test func defaultsWhenNoFileExistsAreRootedUnderTheSysroot() throws {
        let root = try HealthScratchDirectory("otter-config")
        let configuration = try OtterConfiguration.load(root: root.path)
        #expect(configuration.files.isEmpty)
        #expect(configuration.warnings.isEmpty)
        #expect(configuration.paths.stateDatabase == root.path + "/var/lib/otter/state.db")
        #expect(configuration.paths.tufDirectory == root.path + "/var/lib/otter/tuf")
        #expect(configuration.paths.appsRoot == root.path + "/var/lib/otter/apps")
        #expect(configuration.paths.sysroot == root.path)
        #expect(configuration.update.pollInterval == .seconds(300))
        #expect(configuration.update.autoReboot == false)
        #expect(configuration.health.requiredDirectories == [root.path + "/etc/otter/health/required.d"])
        #expect(configuration.health.greenbootDirectories == [root.path + "/usr/lib/greenboot", root.path + "/etc/greenboot"])
        #expect(configuration.health.greenbootShell == "/bin/bash")
        #expect(configuration.bootloader.backend == nil)
        #expect(configuration.callbacks.program == nil)
        #expect(configuration.apps.composeCommand == ["docker-compose"])

        let host = OtterConfiguration.defaults()
        #expect(host.paths.stateDatabase == "/var/lib/otter/state.db")
        #expect(OtterConfiguration.directories() == ["/usr/lib/otter/conf.d", "/var/lib/otter/conf.d", "/etc/otter/conf.d"])
    }

    @Test func theGatewayLayerSitsBetweenTheImageAndEtc() throws {
        let root = try HealthScratchDirectory("otter-config")
        try root.write("usr/lib/otter/conf.d/10-image.toml", "[update]\nwindows = [\"* 01:00-02:00\"]\npoll_interval = 100\n[device]\ntag = \"image\"\n")
        try root.write("var/lib/otter/conf.d/otter-update-windows.toml", "[update]\nwindows = [\"Mon-Fri 02:00-04:00\"]\npoll_interval = 200\n")
        try root.write("etc/otter/conf.d/50-local.toml", "[update]\npoll_interval = 300\n")
        let configuration = try OtterConfiguration.load(root: root.path)
        #expect(configuration.update.windows.windows.map(\.description) == ["Mon-Fri 02:00-04:00"])
        #expect(configuration.update.pollInterval == .seconds(300))
        #expect(configuration.device.tag == "image")
    }

    @Test func aBadUpdateWindowNamesTheFileAndTheExpectedSyntax() throws {
        let root = try HealthScratchDirectory("otter-config")
        try root.write("var/lib/otter/conf.d/otter-update-windows.toml", "[update]\nwindows = [\"Mon-Fri 2-4\"]\n")
        let error = #expect(throws: OtterConfigurationError.self) { try OtterConfiguration.load(root: root.path) }
        let message = "\(error.map { "\($0)" } ?? "")"
        #expect(message.contains("otter-update-windows.toml") && message.contains("update.windows") && message.contains("Mon-Fri 02:00-04:00"), "\(message)")
    }

    @Test func etcOverridesLibAndLaterNamesOverrideEarlierKeyByKey() throws {
        let root = try HealthScratchDirectory("otter-config")
        try root.write("usr/lib/otter/conf.d/10-image.toml", """
            [device]
            tag = "lib-10"
            hardware_id = "intel-corei7-64"
            [update]
            poll_interval = 100
            [health]
            timeout = 50
            """)
        try root.write("usr/lib/otter/conf.d/20-image.toml", "[device]\ntag = \"lib-20\"\n")
        // Sorts before the lib files by name, but /etc always applies after /usr/lib.
        try root.write("etc/otter/conf.d/05-site.toml", "[device]\ntag = \"etc-05\"\n")
        try root.write("etc/otter/conf.d/10-site.toml", "[update]\npoll_interval = 200\n")
        try root.write("etc/otter/conf.d/README", "[device]\ntag = \"not a fragment\"\n")

        let configuration = try OtterConfiguration.load(root: root.path)
        #expect(configuration.device.tag == "etc-05")
        #expect(configuration.device.hardwareID == "intel-corei7-64")
        #expect(configuration.update.pollInterval == .seconds(200))
        #expect(configuration.health.timeout == .seconds(50))
        #expect(configuration.files == [
            root.path + "/usr/lib/otter/conf.d/10-image.toml", root.path + "/usr/lib/otter/conf.d/20-image.toml",
            root.path + "/etc/otter/conf.d/05-site.toml", root.path + "/etc/otter/conf.d/10-site.toml",
        ])
    }

    @Test func explicitDirectoriesReplaceTheConfDirectories() throws {
        let scratch = try HealthScratchDirectory("otter-config")
        try scratch.write("a/1.toml", "[device]\nname = \"from-a\"\n")
        try scratch.write("b/1.toml", "[device]\nname = \"from-b\"\n")
        let configuration = try OtterConfiguration.load(directories: [scratch.path + "/b", scratch.path + "/a"])
        #expect(configuration.device.name == "from-a")
        #expect(configuration.paths.stateDatabase == "/var/lib/otter/state.db")
    }

    @Test func pathsFromFilesAreTakenInsideTheRootToo() throws {
        let root = try HealthScratchDirectory("otter-config")
        try root.write("etc/otter/conf.d/50.toml", """
            [paths]
            state_db = "/data/otter/state.db"
            [callbacks]
            program = "/usr/libexec/callback"
            [update]
            reboot_command = ["/usr/bin/systemctl", "reboot"]
            """)
        let configuration = try OtterConfiguration.load(root: root.path + "/")
        #expect(configuration.paths.stateDatabase == root.path + "/data/otter/state.db")
        #expect(configuration.callbacks.program == root.path + "/usr/libexec/callback")
        #expect(configuration.update.rebootCommand == ["/usr/bin/systemctl", "reboot"])
    }

    @Test func wrongTypeNamesTheFileTheKeyAndTheExpectedType() throws {
        let root = try HealthScratchDirectory("otter-config")
        try root.write("usr/lib/otter/conf.d/10.toml", "[update]\npoll_interval = 60\n")
        let culprit = try root.write("etc/otter/conf.d/50-bad.toml", "[update]\npoll_interval = \"often\"\n")
        do throws(OtterConfigurationError) {
            _ = try OtterConfiguration.load(root: root.path)
            Issue.record("a string poll_interval was accepted")
        } catch {
            #expect(error == .wrongType(file: culprit, key: "update.poll_interval", expected: "a number of seconds", found: "string"))
            #expect(error.description.contains(culprit))
            #expect(error.description.contains("update.poll_interval"))
        }

        try root.write("etc/otter/conf.d/50-bad.toml", "[update]\nauto_reboot = \"yes\"\n")
        #expect(throws: OtterConfigurationError.wrongType(file: culprit, key: "update.auto_reboot",
                                                          expected: "a boolean (true or false)", found: "string")) {
            try OtterConfiguration.load(root: root.path)
        }
        try root.write("etc/otter/conf.d/50-bad.toml", "[health]\nrequired_dirs = [\"/a\", 3]\n")
        #expect(throws: OtterConfigurationError.wrongType(file: culprit, key: "health.required_dirs",
                                                          expected: "an array of strings", found: "array")) {
            try OtterConfiguration.load(root: root.path)
        }
    }

    @Test func invalidValuesAreRejectedWithWhatWasExpected() throws {
        let root = try HealthScratchDirectory("otter-config")
        let file = root.path + "/etc/otter/conf.d/50.toml"
        let cases: [(String, String)] = [
            ("[bootloader]\nbackend = \"lilo\"\n", "bootloader.backend"),
            ("[paths]\nstate_db = \"state.db\"\n", "paths.state_db"),
            ("[servers]\ntuf_url = \"updates.example.com\"\n", "servers.tuf_url"),
            ("[update]\npoll_interval = 0\n", "update.poll_interval"),
            ("[health]\ntimeout = -1\n", "health.timeout"),
            ("[apps]\nreserve_bytes = -5\n", "apps.reserve_bytes"),
            ("[update]\nreboot_command = []\n", "update.reboot_command"),
        ]
        for (text, key) in cases {
            try root.write("etc/otter/conf.d/50.toml", text)
            do throws(OtterConfigurationError) {
                _ = try OtterConfiguration.load(root: root.path)
                Issue.record("\(key) accepted: \(text)")
            } catch {
                guard case let .invalidValue(errorFile, errorKey, _, _) = error else {
                    Issue.record("\(key): unexpected \(error)")
                    continue
                }
                #expect(errorFile == file)
                #expect(errorKey == key)
            }
        }
        try root.write("etc/otter/conf.d/50.toml", "[bootloader]\nbackend = \"custom\"\n")
        #expect(throws: OtterConfigurationError.missing(key: "bootloader.custom_script", because: "bootloader.backend is \"custom\"")) {
            try OtterConfiguration.load(root: root.path)
        }
    }

    @Test func unknownKeysAndSectionsAreWarningsNotErrors() throws {
        let root = try HealthScratchDirectory("otter-config")
        let file = try root.write("etc/otter/conf.d/50.toml", """
            loglevel = 3
            [health]
            timout = 5
            timeout = 7
            [pacman]
            type = "ostree+compose_apps"
            """)
        let configuration = try OtterConfiguration.load(root: root.path)
        #expect(configuration.health.timeout == .seconds(7))
        #expect(configuration.warnings == [
            OtterConfigurationWarning(file: file, key: "health.timout"),
            OtterConfigurationWarning(file: file, key: "loglevel"),
            OtterConfigurationWarning(file: file, key: "pacman.type"),
        ])
        #expect(configuration.warnings[0].description.contains("health.timout"))
    }

    @Test func syntaxErrorNamesTheFileAndLine() throws {
        let root = try HealthScratchDirectory("otter-config")
        let file = try root.write("etc/otter/conf.d/50.toml", "[device]\nname = \"ok\"\ntag = \n")
        do throws(OtterConfigurationError) {
            _ = try OtterConfiguration.load(root: root.path)
            Issue.record("broken TOML was accepted")
        } catch {
            guard case let .syntax(errorFile, line, _, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(errorFile == file)
            #expect(line == 3)
        }
    }

    @Test func bootloaderBackendChoosesItsPathAndOpensACounter() throws {
        let root = try HealthScratchDirectory("otter-config")
        try root.write("etc/otter/conf.d/50.toml", """
            [bootloader]
            backend = "file"
            file = "/var/lib/otter/boot.env"
            scheme = "upgrade_available"
            """)
        try root.write("var/lib/otter/boot.env", "")
        let configuration = try OtterConfiguration.load(root: root.path)
        #expect(configuration.bootloader.backend == .file)
        #expect(configuration.bootloader.environmentPath == root.path + "/var/lib/otter/boot.env")
        #expect(try configuration.bootloader.bootCounter() != nil)
        #expect(try OtterConfiguration.defaults().bootloader.bootCounter() == nil)
    }

    /// The example documents every key with its default: loading it as-is gives the defaults,
    /// and with every commented-out setting enabled it still has no unknown key.
    @Test func exampleFileDocumentsEveryKeyWithItsDefault() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../config/otter.toml.example").standardized.path
        let text = try String(contentsOfFile: example, encoding: .utf8)
        let root = try HealthScratchDirectory("otter-config")
        try root.write("etc/otter/conf.d/00-example.toml", text)
        var asWritten = try OtterConfiguration.load(root: root.path)
        #expect(asWritten.warnings.isEmpty)
        asWritten.files = []
        #expect(asWritten == OtterConfiguration.defaults(root: root.path))

        let enabled = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.range(of: #"^# [a-z_]+ = "#, options: .regularExpression) != nil ? String(line.dropFirst(2)) : String(line)
        }.joined(separator: "\n")
        #expect(enabled != text)
        try root.write("etc/otter/conf.d/00-example.toml", enabled)
        let everything = try OtterConfiguration.load(root: root.path)
        #expect(everything.warnings.isEmpty)
        #expect(everything.device.hardwareID == "intel-corei7-64")
        #expect(everything.servers.tlsCACertificate == root.path + "/var/lib/otter/certs/root.crt")
        #expect(everything.bootloader.customScript != nil)
    }
}

@Suite("OtterConfiguration: poll delay")
struct ConfigPollDelayTests {
    @Test func pollDelayIsTheIntervalPlusAtMostTheJitter() throws {
        let root = try HealthScratchDirectory("otter-config")
        try root.write("etc/otter/conf.d/50.toml", "[update]\npoll_interval = 10\npoll_jitter = 2\n")
        let update = try OtterConfiguration.load(root: root.path).update
        let delays = (0..<200).map { _ in update.nextPollDelay() }
        #expect(delays.allSatisfy { $0 >= .seconds(10) && $0 <= .seconds(12) })
        #expect(Set(delays).count > 1)

        try root.write("etc/otter/conf.d/50.toml", "[update]\npoll_interval = 10\npoll_jitter = 0\n")
        #expect(try OtterConfiguration.load(root: root.path).update.nextPollDelay() == .seconds(10))
    }
}
