import Foundation
import OCI
import Testing
import TestSupport
@testable import ComposeApps

/// `otter-factory apps publish` against a real registry, checked with skopeo.
@Suite(.serialized, .timeLimit(.minutes(3))) struct PublishTests {
    @Test func publishedAppIsAComposeAppManifestSkopeoReads() async throws {
        let f = try await AppsFixture()
        let image = try await f.pushImage("factory/web-image", layerSizes: [20_000])
        let project = try f.project("shellhttpd", services: [("web", image.pinned)], extraFiles: ["conf/x.conf": "a=1"])
        let run = try otterFactory(["apps", "publish", project, "--registry", "\(f.host)/factory/shellhttpd", "--tag", "v1",
                                    "--plain-http", "--json"])
        try #require(run.status == 0, "\(run.err)")
        let result = try json(run.out)
        let uri = try #require(result["uri"] as? String)
        #expect(uri.hasPrefix("\(f.host)/factory/shellhttpd@sha256:"))

        // skopeo, an independent client, reads the manifest by the printed digest and by tag.
        let inspect = try runProcess("/usr/bin/skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(uri)"])
        try #require(inspect.status == 0, "\(inspect.err)")
        let raw = Array(inspect.out.utf8)
        #expect("sha256:" + OCIDigest.sha256(of: raw).hex == uri.split(separator: "@").last.map(String.init))
        let manifest = try json(inspect.out)
        #expect(manifest["mediaType"] as? String == MediaType.ociManifest)
        #expect(manifest["artifactType"] as? String == "application/vnd.fio+compose-app")
        #expect(manifest["annotations"] as? [String: String] == ["compose-app": "v1"])
        #expect((manifest["config"] as? [String: Any])?["mediaType"] as? String == "application/vnd.oci.empty.v1+json")
        let layer = try #require((manifest["layers"] as? [[String: Any]])?.first)
        #expect(layer["mediaType"] as? String == "application/octet-stream")
        #expect(layer["digest"] as? String == result["bundleDigest"] as? String)
        let byTag = try runProcess("/usr/bin/skopeo", ["inspect", "--raw", "--tls-verify=false", "docker://\(f.host)/factory/shellhttpd:v1"])
        #expect(byTag.out == inspect.out)

        // The bundle blob skopeo copies is the gzip tar of the project.
        let layout = f.temporaryPath("layout")
        let copy = try runProcess("/usr/bin/skopeo", ["copy", "--src-tls-verify=false", "docker://\(uri)", "oci:\(layout)"])
        try #require(copy.status == 0, "\(copy.err)")
        let bundleHex = try #require((layer["digest"] as? String)?.split(separator: ":").last)
        let tar = try runProcess("/usr/bin/env", ["tar", "-tzf", "\(layout)/blobs/sha256/\(bundleHex)"])
        #expect(tar.out.split(separator: "\n").sorted() == ["conf/", "conf/x.conf", "docker-compose.yml"])

        // Publishing the same project again gives the same URI (reproducible bundle).
        let again = try otterFactory(["apps", "publish", project, "--registry", "\(f.host)/factory/shellhttpd", "--plain-http"])
        #expect(again.out.trimmingCharacters(in: .whitespacesAndNewlines) == uri)
    }

    @Test func publishRefusesAnUnpinnedImageAndPushesNothing() async throws {
        let f = try await AppsFixture()
        let image = try await f.pushImage("factory/web-image", layerSizes: [1000])
        let project = try f.project("app", services: [("ok", image.pinned), ("web", "\(f.host)/factory/web-image:v1")])
        let run = try otterFactory(["apps", "publish", project, "--registry", "\(f.host)/factory/app", "--plain-http"])
        #expect(run.status == 1)
        #expect(run.err.contains("service web"))
        #expect(run.err.contains("\(f.host)/factory/web-image:v1"))
        #expect(run.err.contains("--pin"))
        // The repository was never created: no blob, no manifest reached the registry.
        await #expect(throws: OCIError.notFound(what: "tags of \(f.host)/factory/app")) {
            try await f.client().tags(of: Repository(registry: f.host, name: "factory/app"))
        }
    }

    @Test func pinResolvesTagsToDigestsAndRewritesTheComposeFile() async throws {
        let f = try await AppsFixture()
        let image = try await f.pushImage("factory/web-image", tag: "v7", layerSizes: [1000])
        let project = try f.project("app", services: [("web", "\(f.host)/factory/web-image:v7")])
        let run = try otterFactory(["apps", "publish", project, "--registry", "\(f.host)/factory/app", "--plain-http", "--pin", "--json"])
        try #require(run.status == 0, "\(run.err)")
        #expect(try json(run.out)["pinnedServices"] as? [String] == ["web"])
        let compose = try ComposeFile(directory: project)
        #expect(try compose.pinnedImages().map(\.image) == [image.pinned])
        let text = try String(contentsOfFile: project + "/docker-compose.yml", encoding: .utf8)
        #expect(text.contains("restart: always"))

        // And the published app fetches with that image.
        let uri = try json(run.out)["uri"] as! String
        let store = try AppStore(root: f.temporaryPath("store"))
        let report = try await store.fetch(apps: [("app", uri)], from: f.client())
        #expect(report.apps.first?.images.map(\.manifestDigest) == [image.digest])
    }
}
