extension HTTPClient {
    /// The retry loop around single attempts: bounded, with exponential backoff, resuming
    /// sinks from what they already hold.
    func perform(_ request: HTTPRequest, destination: BodyDestination,
                 progress: HTTPProgressHandler?) async throws -> HTTPResponse {
        let policy = configuration.retry
        var metrics = HTTPTransferMetrics()
        var rangeAllowed = true
        let clock = ContinuousClock()
        let deadline = configuration.timeouts.overall.map { clock.now + $0 }
        var timeLeft: Duration? { deadline.map { clock.now.duration(to: $0) } }
        func outOfTime(_ last: HTTPError) -> HTTPError {
            HTTPError(kind: .timedOut, method: request.method, url: request.url,
                      message: "not done within the overall timeout of \(configuration.timeouts.overall!) (last attempt: \(last.message))",
                      response: last.response, attempts: metrics.attempts)
        }
        while true {
            try Task.checkCancellation()
            var offset: Int64 = 0
            if rangeAllowed, case .sink(let box) = destination { offset = max(0, box.sink.resumeOffset) }
            let transfer: Transfer
            do {
                transfer = try Transfer(request: request, configuration: configuration, destination: destination,
                                        requestedOffset: offset, timeLeft: timeLeft, progress: progress)
            } catch {
                throw error.after(attempts: max(1, metrics.attempts))
            }
            let outcome = await engine.run(transfer)
            metrics.attempts += 1
            metrics.connectionsOpened += outcome.connectionsOpened
            metrics.bodyBytesReceived += outcome.bodyBytesReceived

            // Settle the call, or find how long to pause before the next attempt.
            let pause: Duration
            switch outcome.result {
            case .cancelled:
                throw CancellationError()
            case .response(let head, let body):
                var settled = metrics
                settled.resumedFrom = outcome.resumedFrom
                let response = HTTPResponse(method: request.method, head: head, body: body, metrics: settled)
                guard Self.isTransient(status: head.status, request), metrics.attempts < policy.maxAttempts,
                      let wait = pauseBeforeRetry(retryAfter: Self.retryAfter(head)) else {
                    return response
                }
                pause = wait
            case .failure(let error):
                // The stored part is not a prefix of this resource (any more): start over once.
                if error.status == 416, offset > 0, rangeAllowed {
                    rangeAllowed = false
                    continue
                }
                guard Self.isTransient(error, request), metrics.attempts < policy.maxAttempts else {
                    throw error.after(attempts: metrics.attempts)
                }
                guard let wait = pauseBeforeRetry(retryAfter: error.response.flatMap(Self.retryAfter)) else {
                    throw outOfTime(error)
                }
                pause = wait
            }
            try await Task.sleep(for: pause)
        }

        /// The backoff before the next attempt, or nil when the overall timeout ends first.
        func pauseBeforeRetry(retryAfter: Duration?) -> Duration? {
            var delay = policy.delay(after: metrics.attempts)
            if let retryAfter { delay = min(max(delay, retryAfter), policy.maxDelay) }
            // Up to 10 % jitter, so a fleet that failed together does not retry together.
            delay += delay * Double.random(in: 0..<0.1)
            if let timeLeft, timeLeft <= delay { return nil }
            return delay
        }
    }

    static func isTransient(status: Int, _ request: HTTPRequest) -> Bool {
        if request.body?.isRepeatable == false { return false }
        if status == 429 || status == 503 { return true }
        guard request.isRetryable else { return false }
        return status == 408 || status == 500 || status == 502 || status == 504 || (status >= 507 && status < 600)
    }

    static func isTransient(_ error: HTTPError, _ request: HTTPRequest) -> Bool {
        // The body's bytes are gone once read: another attempt would send a truncated body.
        if request.body?.isRepeatable == false { return false }
        switch error.kind {
        case .couldNotConnect, .couldNotResolveHost:
            return true
        case .timedOut, .connectionLost:
            return request.isRetryable
        case .status(let status):
            return isTransient(status: status, request)
        default:
            return false
        }
    }

    /// `Retry-After` in seconds (RFC 9110 §10.2.3); the HTTP-date form is ignored.
    static func retryAfter(_ head: HTTPResponseHead) -> Duration? {
        guard let value = head.headers["Retry-After"], let seconds = Int(value.trimmingSpaces()), seconds >= 0 else {
            return nil
        }
        return .seconds(seconds)
    }
}

extension HTTPError {
    func after(attempts: Int) -> HTTPError {
        var error = self
        error.attempts = attempts
        return error
    }
}
