import Dispatch

/// libostree calls block (disk I/O, fsync, network), and an OstreeRepo or OstreeSysroot is not
/// safe for concurrent use. Every handle therefore owns a serial queue: calls run there, one at
/// a time, off Swift's cooperative thread pool, and async callers just await the result.
struct BlockingQueue: Sendable {
    private let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label) }

    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// For synchronous callers (CLI setup paths, deinit-free helpers).
    func sync<T>(_ body: () throws -> T) rethrows -> T { try queue.sync(execute: body) }
}
