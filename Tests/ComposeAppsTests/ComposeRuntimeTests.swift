import ComposeApps
import Foundation
import OCI
import Testing
import TestSupport

/// The engine runtime against podman's Docker-compatible service and the real docker-compose.
/// Compose files pin images at a loopback port where nothing listens (`TestImageBuilder.registry`):
/// every install and start below also proves that nothing is pulled.
@Suite(.serialized)
struct ComposeRuntimeTests {
    static func webCompose(_ image: StoredImage, port: Int, extra: String = "") -> String {
        """
        services:
          web:
            image: \(image.reference)
            # busybox httpd as PID 1 ignores SIGTERM: don't wait 10 s for it on down/replace.
            stop_grace_period: 1s
            ports:
              - "127.0.0.1:\(port):8080"
        \(extra)
        """
    }

    @Test func installStartServesAndStatusSaysRunning() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.webImage("web", body: "hello v1")
        let port = freeLoopbackPort()
        let app = try builder.app("shop", version: "1", compose: Self.webCompose(image, port: port), images: [image])
        let runtime = podman.runtime()

        let report = try await runtime.install(app)
        #expect(report.loaded == [image.reference])
        // Install creates no container.
        #expect(try await runtime.status(name: "shop").services.map(\.state) == [.missing])
        #expect(try await runtime.installed() == ["shop"])
        // The published file stays as it was; the project's file names the local tag.
        #expect(try String(contentsOfFile: app.bundleDirectory + "/docker-compose.yml", encoding: .utf8).contains(image.reference))
        let effective = try String(contentsOfFile: podman.directory + "/compose-apps/shop/docker-compose.yml", encoding: .utf8)
        #expect(effective.contains("\(builder.registry)/test/web:otter-\(image.manifestDigest.hex)"))

        try await runtime.start(app)
        #expect(try await fetchPage(port: port) == "hello v1")
        let status = try await runtime.status(name: "shop")
        #expect(status.isRunningAndHealthy)
        #expect(status.uri == app.uri)
        #expect(status.services.count == 1)
        #expect(status.services.first?.service == "web")
        #expect(status.services.first?.state == .running)
        #expect(status.services.first?.health == ServiceStatus.Health.none)
        // Reported against the published reference, not the local tag.
        #expect(status.services.first?.image == image.reference)
        #expect(try await runtime.statusAll().map(\.name) == ["shop"])
    }

    @Test func installAgainLoadsNothingAndKeepsTheImage() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.webImage("web", body: "x")
        let app = try builder.app("shop", version: "1", compose: Self.webCompose(image, port: freeLoopbackPort()), images: [image])
        let runtime = podman.runtime()

        #expect(try await runtime.install(app).loaded == [image.reference])
        let again = try await runtime.install(app)
        #expect(again.loaded.isEmpty)
        #expect(again.alreadyPresent == [image.reference])
        let images = try podman.podman(["images", "--format", "{{.ID}}"]).out.split(separator: "\n")
        #expect(images.count == 1)
        #expect(image.configDigest.hex.hasPrefix(String(images.first ?? "")))

        // The image is there under another name only (its tag removed): tagged, not reloaded.
        let local = try #require(LocalImageName.name(forPinned: image.reference))
        #expect(try podman.podman(["untag", "sha256:\(image.configDigest.hex)", local]).status == 0)
        let retagged = try await runtime.install(app)
        #expect(retagged.loaded.isEmpty)
        #expect(retagged.alreadyPresent == [image.reference])
        #expect(try podman.podman(["image", "exists", local]).status == 0)
    }

    @Test func updateKeepsTheOldVersionRunningUntilStart() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let port = freeLoopbackPort()
        let imageV1 = try builder.webImage("web1", body: "v1")
        let imageV2 = try builder.webImage("web2", body: "v2")
        let v1 = try builder.app("shop", version: "1", compose: Self.webCompose(imageV1, port: port), images: [imageV1])
        let v2 = try builder.app("shop", version: "2", compose: Self.webCompose(imageV2, port: port), images: [imageV2])
        let runtime = podman.runtime()

        try await runtime.install(v1)
        try await runtime.start(v1)
        #expect(try await fetchPage(port: port) == "v1")
        let before = try await runtime.status(name: "shop")

        #expect(try await runtime.install(v2).loaded == [imageV2.reference])
        // Same container, still serving v1.
        let during = try await runtime.status(name: "shop")
        #expect(during.services.map(\.containerID) == before.services.map(\.containerID))
        #expect(during.services.first?.image == imageV1.reference)
        #expect(during.services.first?.state == .running)
        #expect(try await fetchPage(port: port) == "v1")
        // The old version cannot be started from the new project.
        await #expect(throws: AppRuntimeError.self) { try await runtime.start(v1) }

        try await runtime.start(v2)
        #expect(try await fetchPage(port: port) == "v2")
        let after = try await runtime.status(name: "shop")
        #expect(after.services.count == 1)
        #expect(after.services.first?.image == imageV2.reference)
        #expect(after.services.first?.containerID != before.services.first?.containerID)
        #expect(after.uri == v2.uri)
    }

    @Test func exitedServiceReportsItsExitCode() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.build("quitter", containerfile: #"CMD ["/bin/busybox", "sh", "-c", "exit 3"]"# + "\n")
        let app = try builder.app("batch", version: "1", compose: """
            services:
              job:
                image: \(image.reference)
            """, images: [image])
        let runtime = podman.runtime()
        try await runtime.install(app)
        try await runtime.start(app)

        var status = try await runtime.status(name: "batch")
        for _ in 0..<50 where status.services.first?.state != .exited {
            try await Task.sleep(for: .milliseconds(100))
            status = try await runtime.status(name: "batch")
        }
        #expect(status.services.first?.state == .exited)
        #expect(status.services.first?.exitCode == 3)
        #expect(!status.isRunningAndHealthy)
    }

    @Test func healthChecksReportHealthyAndUnhealthy() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.build("sleeper", containerfile: #"CMD ["/bin/busybox", "sleep", "3600"]"# + "\n")
        let app = try builder.app("checked", version: "1", compose: """
            services:
              good:
                image: \(image.reference)
                healthcheck:
                  test: ["CMD", "/bin/busybox", "true"]
                  interval: 1s
                  retries: 1
              bad:
                image: \(image.reference)
                healthcheck:
                  test: ["CMD", "/bin/busybox", "false"]
                  interval: 1s
                  retries: 1
            """, images: [image])
        let runtime = podman.runtime()
        try await runtime.install(app)
        try await runtime.start(app)

        let started = try await runtime.status(name: "checked")
        #expect(started.services.map(\.service) == ["bad", "good"])
        #expect(started.services.allSatisfy { $0.health == .starting })
        #expect(!started.isRunningAndHealthy)
        for service in started.services {
            try podman.runHealthCheck(try #require(service.containerID))
        }
        let checked = try await runtime.status(name: "checked")
        #expect(checked.services.map(\.health) == [.unhealthy, .healthy])
        #expect(checked.services.allSatisfy { $0.state == .running })
        #expect(!checked.isRunningAndHealthy)
    }

    @Test func stopLeavesNoContainer() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.webImage("web", body: "x")
        let port = freeLoopbackPort()
        let app = try builder.app("shop", version: "1", compose: Self.webCompose(image, port: port), images: [image])
        let runtime = podman.runtime()
        try await runtime.install(app)
        try await runtime.start(app)
        #expect(try await fetchPage(port: port) == "x")

        try await runtime.stop(name: "shop")
        #expect(try podman.podman(["ps", "--all", "--quiet"]).out.isEmpty)
        let status = try await runtime.status(name: "shop")
        #expect(status.services.map(\.state) == [.missing])
        #expect(!status.isRunningAndHealthy)
        // Still installed: it can start again.
        try await runtime.start(app)
        #expect(try await fetchPage(port: port) == "x")
    }

    @Test func brokenComposeFileAndMissingImageNameTheApp() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.webImage("web", body: "x")
        let runtime = podman.runtime()

        let broken = try builder.app("broken", version: "1", compose: "services: [unclosed\n", images: [image])
        let parseError = try await #require(throws: AppRuntimeError.self) { try await runtime.install(broken) }
        #expect(parseError.description.hasPrefix("app broken:"))
        #expect(parseError.description.contains("not valid YAML"))

        let other = "\(builder.registry)/test/other@sha256:" + String(repeating: "ab", count: 32)
        let missing = try builder.app("lacking", version: "1", compose: """
            services:
              web:
                image: \(other)
            """, images: [image])
        let missingError = try await #require(throws: AppRuntimeError.self) { try await runtime.install(missing) }
        #expect(missingError.description.hasPrefix("app lacking:"))
        #expect(missingError.description.contains(other))

        // A blob gone from the store: the load fails naming the app and the file.
        var damaged = image
        damaged.layers[0].path = podman.directory + "/no-such-blob"
        let gone = try builder.app("damaged", version: "1", compose: Self.webCompose(damaged, port: freeLoopbackPort()), images: [damaged])
        let loadError = try await #require(throws: AppRuntimeError.self) { try await runtime.install(gone) }
        #expect(loadError.description.hasPrefix("app damaged:"))
        #expect(loadError.description.contains("no-such-blob"))
        #expect(try await runtime.installed().isEmpty)
    }

    @Test func missingEngineSocketIsAClearError() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("otter-nosocket-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/bundle", withIntermediateDirectories: true)
        let reference = "127.0.0.1:5000/test/web@sha256:" + String(repeating: "cd", count: 32)
        try "services:\n  web:\n    image: \(reference)\n".write(toFile: directory + "/bundle/docker-compose.yml", atomically: true, encoding: .utf8)
        let digest = try OCIDigest(parsing: "sha256:" + String(repeating: "ef", count: 32))
        let image = StoredImage(reference: reference, manifestDigest: digest, configDigest: digest, configPath: directory + "/c", layers: [])
        let app = StoredApp(name: "shop", uri: "x@\(digest)", manifestDigest: digest, bundleDirectory: directory + "/bundle", images: [image])
        let socket = directory + "/docker.sock"
        let runtime = ComposeRuntime(configuration: .init(socketPath: socket, composeRoot: directory + "/apps"))

        let error = try await #require(throws: AppRuntimeError.self) { try await runtime.install(app) }
        #expect(error.description.contains("app shop"))
        #expect(error.description.contains(socket))
        #expect(error.description.contains("check that dockerd"))
        await #expect(throws: AppRuntimeError.self) { try await runtime.status(name: "shop") }
    }

    @Test func engineAnswersPingVersionAndListsProjectContainers() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let engine = DockerEngine(socketPath: podman.socketPath)
        try await engine.ping()
        let version = try await engine.version()
        #expect(version.version.hasPrefix("4."))
        #expect(try await engine.images().isEmpty)
        #expect(try await engine.image("no/such:image") == nil)

        let builder = TestImageBuilder(podman: podman)
        let image = try builder.build("sleeper", containerfile: #"CMD ["/bin/busybox", "sleep", "3600"]"# + "\n")
        try await engine.load(image, tags: ["\(builder.registry)/test/sleeper:loaded"])
        let loaded = try #require(try await engine.image("\(builder.registry)/test/sleeper:loaded"))
        #expect(loaded.id == image.configDigest.description)
        // A container of another project and one without labels are not listed.
        #expect(try await podman.podmanStartingContainers(["run", "-d", "--label", "com.docker.compose.project=other",
                                                           "--label", "com.docker.compose.service=s",
                                                           "\(builder.registry)/test/sleeper:loaded"]).succeeded)
        #expect(try await podman.podmanStartingContainers(["run", "-d", "\(builder.registry)/test/sleeper:loaded"]).succeeded)
        #expect(try await engine.containers(project: "mine").isEmpty)
        let other = try await engine.containers(project: "other")
        #expect(other.count == 1)
        #expect(try await engine.container(other[0].id).state.status == "running")
        #expect(try await engine.composeContainers().count == 1)
    }

    @Test func startTwiceKeepsTheContainersAndAFailedUpSaysWhy() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.webImage("web", body: "x")
        let port = freeLoopbackPort()
        let first = try builder.app("first", version: "1", compose: Self.webCompose(image, port: port), images: [image])
        let second = try builder.app("second", version: "1", compose: Self.webCompose(image, port: port), images: [image])
        let runtime = podman.runtime()
        try await runtime.install(first)
        try await runtime.start(first)
        let before = try await runtime.status(name: "first").services.map(\.containerID)
        try await runtime.start(first)
        #expect(try await runtime.status(name: "first").services.map(\.containerID) == before)

        // The same image serves both apps: nothing to load for the second.
        #expect(try await runtime.install(second).loaded.isEmpty)
        let error = try await #require(throws: AppRuntimeError.self) { try await runtime.start(second) }
        #expect(error.app == "second")
        #expect(error.description.contains("up -d --remove-orphans"))
        #expect(error.description.contains("exited with status"))
        #expect(try await fetchPage(port: port) == "x")
        #expect(try await runtime.statusAll().map(\.name) == ["first", "second"])
    }

    /// Figures, not assertions: install (load) of a ~50 MB image and start.
    @Test func measureInstallAndStartOfAFiftyMegabyteImage() async throws {
        let podman = try PodmanFixture()
        defer { podman.stop() }
        let builder = TestImageBuilder(podman: podman)
        let image = try builder.webImage("big", body: "big", padding: 50 << 20)
        let port = freeLoopbackPort()
        let app = try builder.app("big", version: "1", compose: Self.webCompose(image, port: port), images: [image])
        let runtime = podman.runtime()
        let clock = ContinuousClock()
        let baseline = Self.residentBytes()
        let sampler = Task {
            var peak = 0
            while !Task.isCancelled {
                peak = max(peak, Self.residentBytes())
                try? await Task.sleep(for: .milliseconds(10))
            }
            return peak
        }
        let installTime = try await clock.measure { try await runtime.install(app) }
        sampler.cancel()
        let peak = await sampler.value
        let startTime = try await clock.measure { try await runtime.start(app) }
        #expect(try await fetchPage(port: port) == "big")
        let bytes = image.layers.reduce(0) { $0 + $1.size }
        print("compose-apps.install_seconds(\(bytes) layer bytes): \(installTime)")
        print("compose-apps.start_seconds: \(startTime)")
        print("compose-apps.install_rss_growth_mb: \(max(0, peak - baseline) >> 20)")
    }

    /// VmRSS of this process.
    static func residentBytes() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return 0 }
        return (Int(line.split(separator: " ")[1]) ?? 0) * 1024
    }
}

