import Foundation
import HTTP
import Synchronization
import Testing

@Suite struct RetryAndTimeoutTests {
    @Test func serverErrorsAreRetriedUntilSuccess() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().get(server.url("/fail?times=2&status=503&n=100&key=k"))
        #expect(response.status == 200)
        #expect(response.body == HTTPTestSupport.content(100))
        #expect(response.metrics.attempts == 3)
        #expect(try await server.stats().requests("k") == 3)
    }

    @Test func tooManyRequestsIsRetriedHonouringRetryAfter() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().get(server.url("/fail?times=1&status=429&retry_after=0&n=5&key=k"))
        #expect(response.status == 200)
        #expect(response.metrics.attempts == 2)
    }

    @Test func retriesStopAtTheConfiguredCount() async throws {
        let server = try TestServer()
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.retry.maxAttempts = 2
        let response = try await HTTPTestSupport.client(configuration).get(server.url("/fail?times=5&status=500&key=k"))
        #expect(response.status == 500)
        #expect(response.metrics.attempts == 2)
        #expect(try await server.stats().requests("k") == 2)
    }

    @Test func notFoundIsNotRetried() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().get(server.url("/status?code=404&key=k"))
        #expect(response.status == 404)
        #expect(response.metrics.attempts == 1)
        #expect(try await server.stats().requests("k") == 1)
    }

    @Test func postIsNotRetriedAfterAServerError() async throws {
        let server = try TestServer()
        let response = try await HTTPTestSupport.client().send(
            HTTPRequest(method: .post, url: server.url("/fail?times=1&status=500&key=k"), body: .bytes([1, 2, 3])))
        #expect(response.status == 500)
        #expect(try await server.stats().requests("k") == 1)
    }

    @Test func refusedConnectionIsRetriedThenReported() async throws {
        let url = "http://127.0.0.1:\(HTTPTestSupport.closedPort())/bytes?n=1"
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client().get(url)
        }
        #expect(error.kind == .couldNotConnect)
        #expect(error.attempts == 4)
        #expect(error.url == url)
        #expect(error.description.contains("127.0.0.1"))
        #expect(error.nextStep != nil)
    }

    @Test func stalledTransferTimesOut() async throws {
        let server = try TestServer()
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.timeouts.lowSpeedBytesPerSecond = 100
        configuration.timeouts.lowSpeedTime = .seconds(1)
        configuration.retry = .none
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client(configuration).get(server.url("/stall?n=100000&after=10&sleep=30"))
        }
        #expect(error.kind == .timedOut)
        #expect(error.message.lowercased().contains("too slow"))
    }

    @Test func transferTimeoutEndsASlowTransfer() async throws {
        let server = try TestServer()
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.timeouts.transfer = .milliseconds(700)
        configuration.retry = .none
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client(configuration).get(server.url("/stall?n=100000&after=10&sleep=30"))
        }
        #expect(error.kind == .timedOut)
    }

    @Test func overallTimeoutBoundsAllAttempts() async throws {
        let server = try TestServer()
        var configuration = HTTPTestSupport.plainConfiguration
        configuration.timeouts.overall = .seconds(1)
        configuration.retry = .init(maxAttempts: 100, initialDelay: .milliseconds(300), maxDelay: .milliseconds(300))
        let error = try await #require(throws: HTTPError.self) {
            _ = try await HTTPTestSupport.client(configuration).get(server.url("/stall?n=100000&after=10&sleep=30&key=k"))
        }
        #expect(error.kind == .timedOut)
        #expect(error.attempts < 100)
    }

    @Test func cancellingTheTaskAbortsAStalledDownload() async throws {
        let server = try TestServer()
        let path = try HTTPTestSupport.temporaryDirectory().appendingPathComponent("blob").path
        // Server stalls for 30 s and stall detection would take 20 s: only cancellation ends this early.
        let started = Atomic<Bool>(false)
        let (signal, signalled) = AsyncStream.makeStream(of: Void.self)
        let client = HTTPTestSupport.client()
        let task = Task {
            try await client.download(HTTPRequest(url: server.url("/stall?n=100000&after=1000&sleep=30")), to: path,
                                      progress: { progress in
                                          if progress.received > 0, !started.exchange(true, ordering: .relaxed) {
                                              signalled.yield()
                                          }
                                      })
        }
        for await _ in signal { break }
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
        // The client remains usable after a cancelled transfer.
        let next = try await client.get(server.url("/bytes?n=3"))
        #expect(next.body == HTTPTestSupport.content(3))
    }

    @Test func alreadyCancelledTaskSendsNothing() async throws {
        let server = try TestServer()
        let client = HTTPTestSupport.client()
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.get(server.url("/bytes?n=3&key=k"))
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await server.stats().requests("k") == 0)
    }
}
