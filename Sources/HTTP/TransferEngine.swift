import CCurl
import Glibc
import Synchronization

/// Drives every transfer of one `HTTPClient` on one dedicated thread through a libcurl multi
/// handle, whose connection cache keeps connections open between requests.
///
/// Other threads only enqueue work and wake the thread (`curl_multi_wakeup` is the one multi
/// call libcurl allows from any thread); the multi handle, the easy handles added to it and all
/// their callbacks belong to the engine thread.
final class TransferEngine: @unchecked Sendable {
    private struct Queue {
        var added: [Transfer] = []
        var threadStarted = false
        var shuttingDown = false
    }

    private let multi: UnsafeMutableRawPointer?
    private let queue = Mutex(Queue())
    private let connections = Atomic<Int>(0)
    /// Engine-thread only.
    private var active: [UnsafeMutableRawPointer: Transfer] = [:]

    init() {
        multi = CurlGlobal.ensureInitialized() ? curl_multi_init() : nil
    }

    deinit {
        // A running thread holds the engine, so this runs after the loop ended (on its thread).
        if let multi { curl_multi_cleanup(multi) }
    }

    var connectionsOpened: Int { connections.load(ordering: .relaxed) }

    /// Runs one attempt to its end. Task cancellation stops it promptly: the flag is seen by the
    /// engine thread when woken, and by the transfer's progress and data callbacks.
    func run(_ transfer: Transfer) async -> AttemptOutcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<AttemptOutcome, Never>) in
                transfer.continuation = continuation
                guard let multi else {
                    continuation.resume(returning: AttemptOutcome(result: .failure(HTTPError(
                        kind: .transport(curlCode: Int(CURLE_FAILED_INIT.rawValue)), method: transfer.request.method,
                        url: transfer.request.url, message: "libcurl could not be initialised"))))
                    return
                }
                let startThread = queue.withLock { queue in
                    queue.added.append(transfer)
                    defer { queue.threadStarted = true }
                    return !queue.threadStarted
                }
                if startThread { spawnThread() }
                curl_multi_wakeup(multi)
            }
        } onCancel: {
            transfer.cancel()
            if let multi { curl_multi_wakeup(multi) }
        }
    }

    /// Called by the client's deinit: no call is running any more (each holds the client).
    func shutdown() {
        let running = queue.withLock { queue in
            queue.shuttingDown = true
            return queue.threadStarted
        }
        if running, let multi { curl_multi_wakeup(multi) }
    }

    private func spawnThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { context in
            let engine = Unmanaged<TransferEngine>.fromOpaque(context!).takeRetainedValue()
            engine.loop()
            return nil
        }, context)
        precondition(rc == 0, "cannot start the HTTP transfer thread: \(String(cString: strerror(rc)))")
        pthread_detach(thread)
    }

    private func loop() {
        guard let multi else { return }
        // A peer that closes early must fail the transfer, not kill the process: keep SIGPIPE
        // (which is delivered to the writing thread) pending on this thread.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        while true {
            let (added, shuttingDown) = queue.withLock { queue in
                defer { queue.added = [] }
                return (queue.added, queue.shuttingDown)
            }
            for transfer in added {
                if transfer.isCancelled {
                    complete(transfer, CURLE_ABORTED_BY_CALLBACK)
                } else if curl_multi_add_handle(multi, transfer.easy.handle) != CURLM_OK {
                    complete(transfer, CURLE_FAILED_INIT)
                } else {
                    active[transfer.easy.handle] = transfer
                }
            }
            for transfer in active.values where transfer.isCancelled || shuttingDown {
                transfer.cancel()
                remove(transfer, CURLE_ABORTED_BY_CALLBACK)
            }
            if shuttingDown { break }

            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var pending: Int32 = 0
            while let message = curl_multi_info_read(multi, &pending) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle,
                      let transfer = active[easy] else { continue }
                remove(transfer, message.pointee.data.result)
            }
            // Sleeps until a socket is ready, libcurl's next timer, or a wakeup (new work,
            // cancellation, shutdown); the 60 s cap only matters when nothing is running.
            curl_multi_poll(multi, nil, 0, 60_000, nil)
        }
    }

    private func remove(_ transfer: Transfer, _ code: CURLcode) {
        if let multi { curl_multi_remove_handle(multi, transfer.easy.handle) }
        active[transfer.easy.handle] = nil
        complete(transfer, code)
    }

    private func complete(_ transfer: Transfer, _ code: CURLcode) {
        let outcome = transfer.finish(code)
        connections.add(outcome.connectionsOpened, ordering: .relaxed)
        transfer.continuation?.resume(returning: outcome)
        transfer.continuation = nil
    }
}
