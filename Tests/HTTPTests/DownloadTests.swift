import Foundation
import HTTP
import Testing

@Suite struct DownloadTests {
    @Test func downloadStreamsTheBodyToAFile() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        let progress = Recorder<HTTPProgress>()
        let response = try await HTTPTestSupport.client().download(
            HTTPRequest(url: server.url("/bytes?n=5000000")), to: path, progress: { progress.record($0) })
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(try HTTPTestSupport.readFile(path) == HTTPTestSupport.content(5_000_000))
        let reported = progress.all
        #expect(reported.last?.received == 5_000_000)
        #expect(reported.last?.expected == 5_000_000)
        #expect(zip(reported, reported.dropFirst()).allSatisfy { $0.received <= $1.received })
    }

    @Test func brokenTransferIsRetriedFromWhereItStopped() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        let response = try await HTTPTestSupport.client().download(
            HTTPRequest(url: server.url("/die?n=1000000&after=300000&key=k")), to: path)
        #expect(try HTTPTestSupport.readFile(path) == HTTPTestSupport.content(1_000_000))
        #expect(response.status == 206)
        #expect(response.metrics.attempts == 2)
        #expect(response.metrics.resumedFrom == 300_000)
        #expect(response.metrics.bodyBytesReceived == 1_000_000)
        #expect(try await server.stats().ranges("k") == [nil, "bytes=300000-"])
    }

    @Test func nextDownloadResumesAfterServerDiedMidTransfer() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.retry = .none
        let request = HTTPRequest(url: server.url("/die?n=1000000&after=400000&key=k"))
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client(configuration).download(request, to: path)
        }
        #expect(error.kind == .connectionLost)
        #expect(try HTTPTestSupport.readFile(path).count == 400_000)

        let response = try await HTTPTestSupport.client(configuration).download(request, to: path)
        #expect(response.status == 206)
        #expect(response.metrics.resumedFrom == 400_000)
        #expect(response.metrics.bodyBytesReceived == 600_000)
        #expect(try HTTPTestSupport.readFile(path) == HTTPTestSupport.content(1_000_000))
        #expect(try await server.stats().ranges("k") == [nil, "bytes=400000-"])
    }

    @Test func serverIgnoringRangeRewritesTheFileFromZero() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        try Data(repeating: 0xEE, count: 1234).write(to: URL(fileURLWithPath: path))
        let response = try await HTTPTestSupport.client().download(
            HTTPRequest(url: server.url("/bytes?n=100000&norange=1&key=k")), to: path)
        #expect(response.status == 200)
        #expect(response.metrics.resumedFrom == 0)
        #expect(try HTTPTestSupport.readFile(path) == HTTPTestSupport.content(100_000))
        #expect(try await server.stats().ranges("k") == ["bytes=1234-"])
    }

    @Test func resumeOfAFileLongerThanTheResourceStartsOver() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        try Data(repeating: 0xEE, count: 5000).write(to: URL(fileURLWithPath: path))
        let response = try await HTTPTestSupport.client().download(
            HTTPRequest(url: server.url("/bytes?n=1000&key=k")), to: path)
        #expect(response.status == 200)
        #expect(try HTTPTestSupport.readFile(path) == HTTPTestSupport.content(1000))
        #expect(try await server.stats().ranges("k") == ["bytes=5000-", nil])
    }

    @Test func downloadWithoutResumeTruncatesFirst() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        try Data(repeating: 0xEE, count: 50).write(to: URL(fileURLWithPath: path))
        _ = try await HTTPTestSupport.client().download(
            HTTPRequest(url: server.url("/bytes?n=10&key=k")), to: path, resume: false)
        #expect(try HTTPTestSupport.readFile(path) == HTTPTestSupport.content(10))
        #expect(try await server.stats().ranges("k") == [nil])
    }

    @Test func errorStatusThrowsAndLeavesTheFileEmpty() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client().download(HTTPRequest(url: server.url("/status?code=401")), to: path)
        }
        #expect(error.status == 401)
        #expect(error.response?.status == 401)
        #expect(String(decoding: error.bodyExcerpt, as: UTF8.self) == "status 401")
        #expect(try HTTPTestSupport.readFile(path).isEmpty)
    }

    /// A sink that hashes as it goes would be the OCI client's; this one records what it is told.
    final class RecordingSink: HTTPBodySink {
        var bytes: [UInt8] = []
        var begins: [Int64] = []
        var finished = false

        var resumeOffset: Int64 { Int64(bytes.count) }

        func begin(_ head: HTTPResponseHead, at offset: Int64) throws {
            begins.append(offset)
            bytes.removeSubrange(Int(offset)...)
        }

        func write(_ chunk: UnsafeRawBufferPointer) throws {
            bytes.append(contentsOf: chunk)
        }

        func finish() throws {
            finished = true
        }
    }

    @Test func sinkReceivesTheBodyAndResumesAfterABreak() async throws {
        let server = try TestServer()
        let sink = RecordingSink()
        let response = try await HTTPTestSupport.client().stream(
            HTTPRequest(url: server.url("/die?n=200000&after=50000")), to: sink)
        #expect(response.status == 206)
        #expect(sink.begins == [0, 50_000])
        #expect(sink.finished)
        #expect(sink.bytes == HTTPTestSupport.content(200_000))
    }

    struct Refusal: Error {}

    final class RefusingSink: HTTPBodySink {
        func begin(_ head: HTTPResponseHead, at offset: Int64) throws {}
        func write(_ chunk: UnsafeRawBufferPointer) throws { throw Refusal() }
    }

    @Test func sinkErrorStopsTheTransferWithoutRetry() async throws {
        let server = try TestServer()
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client().stream(HTTPRequest(url: server.url("/bytes?n=100000")), to: RefusingSink())
        }
        #expect(error.kind == .sink)
        #expect(error.underlying is Refusal)
        #expect(error.attempts == 1)
    }
}
