import ComposeApps
import Foundation
import HTTP
import OCI
import TestSupport

/// Test images built here (`FROM scratch` + busybox-static), exported to an OCI layout with
/// skopeo from a build storage the engine does not share, and StoredApp values over those
/// blobs: what the app store would hand the runtime.
struct TestImageBuilder {
    let podman: PodmanFixture
    /// The registry the compose files name: a loopback port where nothing listens, so any
    /// pull would fail.
    let registry = "127.0.0.1:\(freeLoopbackPort())"
    var layoutDirectory: String { podman.directory + "/oci" }

    /// Builds `Containerfile` text over a context holding /bin/busybox (plus `extraFiles`)
    /// and returns the stored image, named in compose files as `<registry>/test/<name>@sha256:…`.
    func build(_ name: String, containerfile: String, extraFiles: [String: Data] = [:]) throws -> StoredImage {
        let context = podman.directory + "/context-\(name)"
        try FileManager.default.createDirectory(atPath: context + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: context + "/bin/busybox")
        for (path, data) in extraFiles {
            let url = URL(fileURLWithPath: context + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url)
        }
        try ("FROM scratch\nCOPY bin/busybox /bin/busybox\n" + containerfile).write(toFile: context + "/Containerfile", atomically: true, encoding: .utf8)
        let built = try podman.podman(["build", "-q", "-t", "localhost/build/\(name):latest", context], store: "build")
        guard built.status == 0 else { throw FixtureError("podman build \(name): \(built.err)") }
        let root = podman.directory + "/build"
        let copied = try runProcess("/usr/bin/skopeo", [
            "copy", "containers-storage:[vfs@\(root)/root+\(root)/run]localhost/build/\(name):latest", "oci:\(layoutDirectory):\(name)",
        ], env: podman.environment)
        guard copied.status == 0 else { throw FixtureError("skopeo copy \(name): \(copied.err)") }
        return try storedImage(tag: name, reference: "\(registry)/test/\(name)")
    }

    private func storedImage(tag: String, reference repository: String) throws -> StoredImage {
        struct Index: Decodable {
            struct Entry: Decodable { var digest: String; var annotations: [String: String]? }
            var manifests: [Entry]
        }
        let index = try JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: layoutDirectory + "/index.json")))
        guard let entry = index.manifests.last(where: { $0.annotations?["org.opencontainers.image.ref.name"] == tag }) else {
            throw FixtureError("no \(tag) in the OCI layout")
        }
        let manifestDigest = try OCIDigest(parsing: entry.digest)
        let manifest = try JSONDecoder().decode(ImageManifest.self, from: Data(contentsOf: URL(fileURLWithPath: blob(manifestDigest))))
        return StoredImage(reference: "\(repository)@\(manifestDigest)", manifestDigest: manifestDigest,
                           configDigest: manifest.config.digest, configPath: blob(manifest.config.digest),
                           layers: manifest.layers.map { StoredLayer(digest: $0.digest, size: $0.size, mediaType: $0.mediaType, path: blob($0.digest)) })
    }

    struct ImageManifest: Decodable {
        struct Blob: Decodable { var digest: OCIDigest; var size: Int64; var mediaType: String }
        var config: Blob
        var layers: [Blob]
    }

    func blob(_ digest: OCIDigest) -> String { layoutDirectory + "/blobs/sha256/" + digest.hex }

    /// An unpacked bundle holding `compose` as its docker-compose.yml.
    func app(_ name: String, version: String, compose: String, images: [StoredImage]) throws -> StoredApp {
        let bundle = podman.directory + "/bundles/\(name)-\(version)"
        try FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try compose.write(toFile: bundle + "/docker-compose.yml", atomically: true, encoding: .utf8)
        let digest = OCIDigest.sha256(of: Array((name + version + compose).utf8))
        return StoredApp(name: name, uri: "\(registry)/test/apps/\(name)@\(digest)", manifestDigest: digest,
                         bundleDirectory: bundle, images: images)
    }

    /// A web server answering `GET /` with `body`.
    func webImage(_ name: String, body: String, padding: Int = 0) throws -> StoredImage {
        var files = ["www/index.html": Data(body.utf8)]
        var copy = "COPY www /www\n"
        if padding > 0 {
            // Incompressible, so the gzip layer is as large as the padding.
            let random = try FileHandle(forReadingFrom: URL(fileURLWithPath: "/dev/urandom"))
            files["pad/blob"] = random.readData(ofLength: padding)
            try random.close()
            copy += "COPY pad /pad\n"
        }
        return try build(name, containerfile: copy + #"CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]"# + "\n", extraFiles: files)
    }
}

extension PodmanFixture {
    func runtime(composeRoot: String? = nil) -> ComposeRuntime {
        ComposeRuntime(configuration: .init(socketPath: socketPath, composeRoot: composeRoot ?? directory + "/compose-apps",
                                            composeCommand: ["/usr/bin/docker-compose"], composeTimeout: .seconds(120)))
    }

    /// `podman run -d …`: conmon, which podman leaves behind, holds the output pipes open, so
    /// this goes through ProgramRunner (which stops reading once podman exited), not runProcess.
    func podmanStartingContainers(_ arguments: [String]) async throws -> ProgramResult {
        try await ProgramRunner(environment: environment).run(["/usr/bin/podman"] + storageFlags() + arguments, timeout: .seconds(60))
    }

    /// Runs the container's health check once, as the systemd timer podman relies on would
    /// (there is no systemd here; dockerd runs checks itself).
    func runHealthCheck(_ containerID: String) throws {
        _ = try podman(["healthcheck", "run", containerID])
    }
}

/// `GET http://127.0.0.1:<port>/`, retried for a few seconds while the container starts.
func fetchPage(port: Int) async throws -> String {
    let client = HTTPClient(configuration: .init(timeouts: .init(connect: .seconds(2), transfer: .seconds(5)), retry: .none, proxy: .none))
    var lastError: (any Error)?
    for _ in 0..<50 {
        do {
            let response = try await client.get("http://127.0.0.1:\(port)/")
            if response.isSuccess { return String(decoding: response.body, as: UTF8.self) }
        } catch {
            lastError = error
        }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw FixtureError("nothing answered on 127.0.0.1:\(port): \(String(describing: lastError))")
}
