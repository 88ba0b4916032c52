import Glibc

/// Runs blocking work (a child process's pipes, a tar written into a pipe) on a thread of its
/// own, so it never occupies one of the few threads of Swift's cooperative pool (two on a
/// two-core device: two blocked waits would stall every task).
enum DedicatedThread {
    static func run<T: Sendable>(_ name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let job = Job {
                do { continuation.resume(returning: try work()) } catch { continuation.resume(throwing: error) }
            }
            let context = Unmanaged.passRetained(job).toOpaque()
            var thread = pthread_t()
            let rc = pthread_create(&thread, nil, { context in
                let job = Unmanaged<Job>.fromOpaque(context!).takeRetainedValue()
                job.body()
                return nil
            }, context)
            guard rc == 0 else {
                Unmanaged<Job>.fromOpaque(context).release()
                continuation.resume(throwing: ProgramError(
                    program: name, message: "cannot start a thread: \(String(cString: strerror(rc)))"))
                return
            }
            pthread_detach(thread)
        }
    }

    private final class Job: @unchecked Sendable {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }
}
