import HTTP
import Testing

@Suite struct ConnectionReuseTests {
    @Test func sequentialRequestsShareOneConnection() async throws {
        let server = try TestServer()
        let client = HTTPTestSupport.client()
        let first = try await client.get(server.url("/bytes?n=1000"))
        let second = try await client.get(server.url("/bytes?n=2000"))
        let third = try await client.head(server.url("/bytes?n=3000"))
        #expect([first.status, second.status, third.status] == [200, 200, 200])
        #expect(first.metrics.connectionsOpened == 1)
        #expect(second.metrics.connectionsOpened == 0)
        #expect(third.metrics.connectionsOpened == 0)
        #expect(client.connectionsOpened == 1)
        #expect(try await server.stats().connections == 1)
    }

    @Test func separateClientsDoNotShareConnections() async throws {
        let server = try TestServer()
        _ = try await HTTPTestSupport.client().get(server.url("/bytes?n=10"))
        _ = try await HTTPTestSupport.client().get(server.url("/bytes?n=10"))
        #expect(try await server.stats().connections == 2)
    }

    @Test func concurrentRequestsAllComplete() async throws {
        let server = try TestServer()
        let client = HTTPTestSupport.client()
        let sizes = [10_000, 200_000, 1, 500_000, 64_000, 3]
        let bodies = try await withThrowingTaskGroup(of: (Int, [UInt8]).self) { group in
            for size in sizes {
                group.addTask { (size, try await client.get(server.url("/bytes?n=\(size)")).body) }
            }
            return try await group.reduce(into: [Int: [UInt8]]()) { $0[$1.0] = $1.1 }
        }
        for size in sizes {
            #expect(bodies[size] == HTTPTestSupport.content(size))
        }
    }
}
