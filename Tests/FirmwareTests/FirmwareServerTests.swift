import Foundation
import HTTP
import OCI
import OtterCrypto
import Testing
import TestSupport
@testable import Firmware

/// The firmware endpoints against a real distribution registry, firmware pushed as OCI artifacts
/// and signed in cosign's format. Each test has its own registry and server.
@Suite struct FirmwareServerTests {
    @Test func servesNewestReleaseWithZlibCRC32AndSize() async throws {
        let fixture = try await FirmwareFixture()
        var binaries: [String: [UInt8]] = [:]
        for version in ["0.9.0", "0.10.0", "0.10.0-rc1", "v1.0.0"] {
            binaries[version] = DistributionRegistry.randomBytes(50_000 + binaries.count * 1000)
            try await fixture.publish(binaries[version]!, version: version)
        }
        try await fixture.startServer()
        let newest = binaries["v1.0.0"]!
        let version = try await fixture.version()
        #expect(version.status == 200)
        #expect(version.lines == ["v1.0.0", try fixture.zlibCRC32(newest), String(newest.count)])

        let firmware = try await fixture.get("/firmware?device=esp32-1")
        #expect(firmware.status == 200)
        #expect(firmware.body == newest)
        #expect(firmware.headers["Content-Length"] == String(newest.count))
        #expect(firmware.headers["ETag"] == "\"\(OCIDigest.sha256(of: newest).hex)\"")
        #expect(firmware.headers["Accept-Ranges"] == "bytes")
        #expect(firmware.headers["X-Firmware-Stale"] == nil)

        let notModified = try await fixture.get("/firmware?device=esp32-1", headers: ["If-None-Match": firmware.headers["ETag"]!])
        #expect(notModified.status == 304)
        #expect(try await fixture.get("/health").status == 200)
    }

    @Test func picksUpATagPushedWhileRunning() async throws {
        let fixture = try await FirmwareFixture()
        try await fixture.publish(DistributionRegistry.randomBytes(10_000), version: "1.0.0")
        try await fixture.startServer(pollInterval: .milliseconds(300))
        #expect(try await fixture.version().lines.first == "1.0.0")
        let next = DistributionRegistry.randomBytes(12_345)
        try await fixture.publish(next, version: "1.1.0")
        var seen: [String] = []
        for _ in 0..<100 {
            seen = try await fixture.version().lines
            if seen.first == "1.1.0" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(seen == ["1.1.0", try fixture.zlibCRC32(next), "12345"])
        #expect(try await fixture.get("/firmware?device=esp32-1").body == next)
    }

    @Test func refusesALayerWhoseBytesWereTamperedWith() async throws {
        let fixture = try await FirmwareFixture()
        let binary = DistributionRegistry.randomBytes(20_000)
        try await fixture.publish(binary, version: "1.0.0")
        // Same size, other bytes, in the registry's own storage: the digest no longer matches.
        var tampered = binary
        tampered[100] ^= 0xFF
        try Data(tampered).write(to: fixture.registry.dataPath(ofSHA256: OCIDigest.sha256(of: binary).hex))
        try await fixture.startServer()
        let firmware = try await fixture.get("/firmware?device=esp32-1")
        #expect(firmware.status == 502)
        #expect(String(decoding: firmware.body, as: UTF8.self).contains("does not match its digest"))
        #expect(try await fixture.version().status == 502)
        #expect(fixture.service?.statistics.firmwareDownloads == 0)
    }

    @Test func refusesFirmwareSignedByAnotherKey() async throws {
        let fixture = try await FirmwareFixture()
        try await fixture.publish(DistributionRegistry.randomBytes(5_000), version: "1.0.0", signedWith: try ECDSAP256PrivateKey())
        try await fixture.startServer()
        let firmware = try await fixture.get("/firmware?device=esp32-1")
        #expect(firmware.status == 502)
        #expect(String(decoding: firmware.body, as: UTF8.self).contains("does not verify with the configured cosign public key"))
    }

    @Test func refusesUnsignedFirmwareAndASignatureForAnotherDigest() async throws {
        let fixture = try await FirmwareFixture()
        try await fixture.publish(DistributionRegistry.randomBytes(5_000), device: "unsigned", version: "1.0.0", signedWith: .some(nil))
        // A valid signature of 1.0.0 copied to the signature tag of 1.1.0.
        let signed = try await fixture.publish(DistributionRegistry.randomBytes(5_000), device: "copied", version: "1.0.0")
        let other = try await fixture.publish(DistributionRegistry.randomBytes(5_000), device: "copied", version: "1.1.0", signedWith: .some(nil))
        let client = fixture.firmwareRegistry.client()
        let signature = try await client.manifest(Reference(repository: signed.repository, tag: CosignSignature.tag(for: signed.digest!)))
        try await client.pushManifest(signature.bytes, mediaType: signature.mediaType, to: other.repository,
                                      tag: CosignSignature.tag(for: other.digest!))
        try await fixture.startServer()

        let unsigned = try await fixture.get("/firmware?device=unsigned")
        #expect(unsigned.status == 502)
        #expect(String(decoding: unsigned.body, as: UTF8.self).contains("is not signed"))
        let copied = try await fixture.get("/version?device=copied")
        #expect(copied.status == 502)
        #expect(String(decoding: copied.body, as: UTF8.self).contains("the signature is for manifest \(signed.digest!), not for \(other.digest!)"))
    }

    @Test func twoHundredConcurrentColdRequestsMakeOneRegistryDownload() async throws {
        let fixture = try await FirmwareFixture()
        let binary = DistributionRegistry.randomBytes(1 << 20)
        try await fixture.publish(binary, version: "2.0.0")
        try await fixture.startServer()
        let statuses = try await withThrowingTaskGroup(of: (Int, Bool).self) { group in
            for _ in 0..<200 {
                group.addTask {
                    let response = try await fixture.get("/firmware?device=esp32-1")
                    return (response.status, response.body == binary)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(statuses.count == 200)
        #expect(statuses.allSatisfy { $0 == (200, true) })
        let statistics = try #require(fixture.service?.statistics)
        #expect(statistics.firmwareDownloads == 1)
        #expect(statistics.tagListings == 1)
        #expect(statistics.downloadedBytes == Int64(binary.count))
    }

    @Test func resumesWithRangeRequests() async throws {
        let fixture = try await FirmwareFixture()
        let binary = DistributionRegistry.randomBytes(300_000)
        try await fixture.publish(binary, version: "1.0.0")
        try await fixture.startServer()
        let whole = try await fixture.get("/firmware?device=esp32-1")
        let etag = try #require(whole.headers["ETag"])

        let tail = try await fixture.get("/firmware?device=esp32-1", headers: ["Range": "bytes=100000-"])
        #expect(tail.status == 206)
        #expect(tail.headers["Content-Range"] == "bytes 100000-299999/300000")
        #expect(tail.headers["Content-Length"] == "200000")
        #expect(tail.body == Array(binary[100_000...]))
        let middle = try await fixture.get("/firmware?device=esp32-1", headers: ["Range": "bytes=10-19", "If-Range": etag])
        #expect(middle.status == 206 && middle.body == Array(binary[10..<20]))
        let changed = try await fixture.get("/firmware?device=esp32-1", headers: ["Range": "bytes=10-19", "If-Range": "\"other\""])
        #expect(changed.status == 200 && changed.body == binary)
        let beyond = try await fixture.get("/firmware?device=esp32-1", headers: ["Range": "bytes=300000-"])
        #expect(beyond.status == 416)
        #expect(beyond.headers["Content-Range"] == "bytes */300000")

        // curl, as a device would, continuing a download that broke after 123,456 bytes.
        let partial = fixture.directory.path + "/partial.bin"
        try Data(binary[..<123_456]).write(to: URL(fileURLWithPath: partial))
        let curl = try runProcess("/usr/bin/curl", ["-sS", "-f", "-C", "-", "-o", partial, "-w", "%{http_code}", fixture.url + "/firmware?device=esp32-1"])
        #expect(curl.status == 0, "\(curl.err)")
        #expect(curl.out == "206")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: partial))) == binary)
    }

    @Test func answersNotFoundForUnknownDevicesAndBadRequestForBadQueries() async throws {
        let fixture = try await FirmwareFixture()
        try await fixture.publish(DistributionRegistry.randomBytes(1_000), version: "1.0.0")
        try await fixture.publish(DistributionRegistry.randomBytes(1_000), device: "norelease", version: "1.0.0-rc.1")
        try await fixture.startServer(token: "s3cret")
        let bearer: HTTPHeaders = ["Authorization": "Bearer s3cret"]
        #expect(try await fixture.get("/version?device=esp32-1").status == 401)
        #expect(try await fixture.get("/version?device=esp32-1", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(try await fixture.get("/version?device=esp32-1", headers: bearer).status == 200)
        #expect(try await fixture.get("/firmware?device=esp32-1&token=s3cret").status == 200)
        #expect(try await fixture.get("/version?device=nosuchdevice", headers: bearer).status == 404)
        #expect(try await fixture.get("/firmware?device=norelease", headers: bearer).status == 404)
        for query in ["", "?device=", "?device=ESP32", "?device=a%2Fb", "?device=esp32-1&device=esp32-2", "?id=esp32-1"] {
            #expect(try await fixture.get("/firmware" + query, headers: bearer).status == 400, "\(query)")
            #expect(try await fixture.get("/version" + query, headers: bearer).status == 400, "\(query)")
        }
    }

    @Test func servesTheCachedCopyWithAHeaderWhileTheRegistryIsDown() async throws {
        let fixture = try await FirmwareFixture()
        let binary = DistributionRegistry.randomBytes(40_000)
        try await fixture.publish(binary, version: "1.2.3")
        let cache = fixture.directory.path + "/cache"
        try await fixture.startServer(cache: cache)
        #expect(try await fixture.get("/firmware?device=esp32-1").status == 200)
        fixture.registry.kill()
        await fixture.service!.refresh("esp32-1")
        let stale = try await fixture.get("/firmware?device=esp32-1")
        #expect(stale.status == 200 && stale.body == binary)
        #expect(stale.headers["X-Firmware-Stale"] == "registry unreachable; serving cached 1.2.3")
        #expect(try await fixture.get("/health").status == 503)
        #expect(try await fixture.get("/version?device=other").status == 503)

        // A restarted server finds the binary and metadata on disk.
        fixture.stopServer()
        try await fixture.startServer(cache: cache)
        let version = try await fixture.get("/version?device=esp32-1")
        #expect(version.status == 200)
        #expect(String(decoding: version.body, as: UTF8.self) == "1.2.3\n\(try fixture.zlibCRC32(binary))\n40000\n")
        await fixture.service!.refresh("esp32-1")
        #expect(try await fixture.get("/firmware?device=esp32-1").headers["X-Firmware-Stale"] != nil)
    }
}
