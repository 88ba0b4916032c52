import Foundation
import Testing
import TestSupport

/// `otter apps fetch/install/start/status/stop` against the registry and podman.
@Suite(.serialized) struct AppsCLITests {
    @Test func fetchInstallStartStatusStopThroughTheCLI() async throws {
        let lab = try await DeviceLab()
        let uri = try lab.publishApp("web", version: "1", body: "ok cli")
        let engine = ["--engine-socket", lab.podman.socketPath, "--compose-command", "/usr/bin/docker-compose"]

        var run = try lab.otter(["apps", "fetch", uri, "--plain-http", lab.registry.registry])
        #expect(run.status == 0, "fetch: \(run.err)")
        run = try lab.otter(["apps", "install", uri] + engine)
        #expect(run.status == 0, "install: \(run.err)")
        #expect(run.out.contains("1 image(s) loaded"))
        #expect(lab.appPage() == nil, "install starts nothing")
        run = try lab.otter(["apps", "start", uri] + engine)
        #expect(run.status == 0, "start: \(run.err)")
        #expect(lab.appPage() == "ok cli")

        run = try lab.otter(["apps", "status", "--json"] + engine)
        #expect(run.status == 0, "status: \(run.err)")
        let apps = try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [[String: Any]]
        #expect(apps?.first?["uri"] as? String == uri)
        #expect((apps?.first?["services"] as? [[String: Any]])?.first?["state"] as? String == "running")

        run = try lab.otter(["apps", "stop", "web"] + engine)
        #expect(run.status == 0, "stop: \(run.err)")
        run = try lab.otter(["apps", "status"] + engine)
        #expect(run.status == 1, "a stopped app is not healthy")
        #expect(run.out.contains("missing"))
    }
}
