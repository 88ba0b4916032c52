import Foundation
import HTTP
import Testing

@Suite struct InMemoryResponseTests {
    @Test func getCollectsTheWholeBodyInMemory() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().get(server.url("/bytes?n=300000"))
        #expect(response.status == 200)
        #expect(response.body == HTTPTestSupport.content(300_000))
        #expect(response.headers["content-length"] == "300000")
        #expect(response.metrics.attempts == 1)
    }

    @Test func bodyAnnouncedLargerThanTheLimitFailsWithBodyTooLarge() async throws {
        let server = try TestServer()
        let url = server.url("/bytes?n=2000000")
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client().send(HTTPRequest(url: url), maxBodyBytes: 1_000_000)
        }
        #expect(error.kind == .bodyTooLarge(limit: 1_000_000))
        #expect(error.url == url)
        #expect(error.attempts == 1)
    }

    @Test func endlessBodyWithoutLengthIsCutAtTheLimit() async throws {
        let server = try TestServer()
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client().send(HTTPRequest(url: server.url("/endless")), maxBodyBytes: 1 << 20)
        }
        #expect(error.kind == .bodyTooLarge(limit: 1 << 20))
    }

    @Test func headersAreCaseInsensitiveAndKeepEveryValue() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().get(server.url("/headers"), headers: ["X-Test": "sent"])
        #expect(response.headers.values(for: "SET-COOKIE") == ["a=1", "b=2"])
        #expect(response.headers["x-echo"] == "sent")
        #expect(response.headers["X-Absent"] == nil)
    }

    @Test func headReturnsHeadersWithoutBody() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().head(server.url("/bytes?n=5000"))
        #expect(response.status == 200)
        #expect(response.headers["Content-Length"] == "5000")
        #expect(response.body.isEmpty)
        #expect(try await server.stats().methods["/bytes"] == ["HEAD"])
    }

    @Test func postSendsBytesAndHeaders() async throws {
        let server = try TestServer()
        let payload = Array("{\"hello\":\"world\"}".utf8)
        let response = try await HTTPTestSupport.client().send(HTTPRequest(
            method: .post, url: server.url("/echo"), headers: ["Content-Type": "application/json"], body: .bytes(payload)))
        #expect(response.status == 200)
        #expect(response.body == payload)
        #expect(response.headers["X-Method"] == "POST")
        #expect(response.headers["X-Content-Type"] == "application/json")
    }

    @Test func putStreamsTheBodyFromAFile() async throws {
        let server = try TestServer()
        let directory = try HTTPTestSupport.temporaryDirectory()
        let path = directory.appendingPathComponent("upload").path
        let payload = HTTPTestSupport.content(3_000_000)
        try Data(payload).write(to: URL(fileURLWithPath: path))
        let response = try await HTTPTestSupport.client().send(
            HTTPRequest(method: .put, url: server.url("/echo"), body: .file(path: path)))
        #expect(response.headers["X-Method"] == "PUT")
        #expect(response.body == payload)
    }

    @Test func redirectIsFollowed() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().get(server.url("/redirect?to=/bytes%3Fn%3D10"))
        #expect(response.status == 200)
        #expect(response.body == HTTPTestSupport.content(10))
        #expect(response.url.hasSuffix("/bytes?n=10"))
    }

    @Test func configuredProxyCarriesTheRequest() async throws {
        let proxy = try TestServer()
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.proxy = .url("http://127.0.0.1:\(proxy.port)")
        // Nothing listens on the target port: only the proxy can answer.
        let target = "http://127.0.0.1:\(HTTPTestSupport.closedPort())/bytes?n=7&key=k"
        let response = try await HTTPTestSupport.client(configuration).get(target)
        #expect(response.body == HTTPTestSupport.content(7))
        #expect(try await proxy.stats().requests("k") == 1)
    }

    @Test func errorStatusIsReturnedAndRequireSuccessThrowsIt() async throws {
        let server = try TestServer()
        let url = server.url("/status?code=403")
        let response = try await HTTPTestSupport.client().get(url)
        #expect(response.status == 403)
        let error = try #require(throws: HTTPError.self) { try response.requireSuccess() }
        #expect(error.status == 403)
        #expect(error.description.contains(url))
        #expect(error.description.contains("403"))
    }

    @Test func headerWithLineBreakIsRejectedBeforeSending() async throws {
        let server = try TestServer()
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client().get(server.url("/bytes?n=1"), headers: ["X-Evil": "a\r\nInjected: 1"])
        }
        #expect(error.kind == .invalidRequest)
        #expect(try await server.stats().requests("/bytes") == 0)
    }
}
