import CCurl
import Synchronization
import Glibc

/// A body sink handed to the transfer thread. `HTTPBodySink` documents that the client uses it
/// only while the call that received it runs, one callback at a time, which is what makes this
/// hand-over safe.
struct UncheckedSink: @unchecked Sendable {
    let sink: any HTTPBodySink

    init(_ sink: any HTTPBodySink) {
        self.sink = sink
    }
}

enum BodyDestination: Sendable {
    case memory(limit: Int64)
    case sink(UncheckedSink)
}

/// How one attempt ended, as seen by the retry loop.
struct AttemptOutcome: Sendable {
    enum Result: Sendable {
        case response(HTTPResponseHead, body: [UInt8])
        case failure(HTTPError)
        case cancelled
    }

    var result: Result
    var connectionsOpened = 0
    var bodyBytesReceived: Int64 = 0
    var resumedFrom: Int64 = 0
}

/// One attempt of a request: an easy handle configured for it, and the state its libcurl
/// callbacks build (status, headers, body). After `start` hands it to the engine, only the
/// engine's thread touches it, until `finish` produces the outcome.
final class Transfer: @unchecked Sendable {
    let easy: CurlEasy
    let request: HTTPRequest
    private let destination: BodyDestination
    private let progress: HTTPProgressHandler?
    /// The `Range` start asked for (0: the whole body).
    let requestedOffset: Int64
    private let requestBody: RequestBodySource?

    private let cancelFlag = Atomic<Bool>(false)
    var continuation: CheckedContinuation<AttemptOutcome, Never>?

    // Response state, built by the header and write callbacks.
    private var status = 0
    private var headers = HTTPHeaders()
    private var bodyStarted = false
    /// The body goes to the sink (2xx) rather than into the error excerpt.
    private var bodyToSink = false
    private var bodyOffset: Int64 = 0
    private var memoryBody: [UInt8] = []
    private var received: Int64 = 0
    /// Why a callback stopped the transfer, when it was one of ours.
    private var abortReason: HTTPError?
    /// An error status body too long to keep: the transfer was cut short on purpose.
    private var errorBodyAbandoned = false
    private var lastProgress: HTTPProgress?

    static let errorBodyLimit = 64 << 10

    /// `timeLeft` is what remains of the call's overall timeout, if it has one.
    init(request: HTTPRequest, configuration: HTTPClient.Configuration, destination: BodyDestination,
         requestedOffset: Int64, timeLeft: Duration?, progress: HTTPProgressHandler?) throws(HTTPError) {
        guard let easy = CurlEasy() else {
            throw HTTPError(kind: .transport(curlCode: Int(CURLE_FAILED_INIT.rawValue)), method: request.method,
                            url: request.url, message: "libcurl could not be initialised")
        }
        self.easy = easy
        self.request = request
        self.destination = destination
        self.progress = progress
        self.requestedOffset = requestedOffset
        requestBody = try request.body.map { body throws(HTTPError) in try RequestBodySource(body, request: request) }
        do {
            try configure(configuration, timeLeft: timeLeft)
        } catch {
            throw HTTPError(kind: .invalidRequest, method: request.method, url: request.url,
                            message: "libcurl refused \(error.option): \(error.message)")
        }
    }

    var isCancelled: Bool { cancelFlag.load(ordering: .acquiring) }

    func cancel() {
        cancelFlag.store(true, ordering: .releasing)
    }

    // MARK: Options

    private func configure(_ configuration: HTTPClient.Configuration, timeLeft: Duration?) throws(CurlEasy.OptionError) {
        try validate()
        let me = Unmanaged.passUnretained(self).toOpaque()
        try easy.set(CURLOPT_URL, request.url, "CURLOPT_URL")
        try easy.set(CURLOPT_PROTOCOLS_STR, "http,https", "CURLOPT_PROTOCOLS_STR")
        try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https", "CURLOPT_REDIR_PROTOCOLS_STR")
        // Threads and signals: libcurl must not use SIGALRM for its timeouts in a threaded process.
        try easy.set(CURLOPT_NOSIGNAL, true, "CURLOPT_NOSIGNAL")
        try easy.set(CURLOPT_USERAGENT, configuration.userAgent, "CURLOPT_USERAGENT")
        try easy.set(CURLOPT_TCP_KEEPALIVE, true, "CURLOPT_TCP_KEEPALIVE")
        try easy.set(CURLOPT_BUFFERSIZE, 128 << 10, "CURLOPT_BUFFERSIZE")
        // No CURLOPT_ACCEPT_ENCODING: bodies arrive byte-exact, so digests and Range offsets hold.

        if let rate = configuration.maxReceiveBytesPerSecond, rate > 0 {
            try easy.set(CURLOPT_MAX_RECV_SPEED_LARGE, offset: rate, "CURLOPT_MAX_RECV_SPEED_LARGE")
        }
        try easy.set(CURLOPT_FOLLOWLOCATION, request.followRedirects, "CURLOPT_FOLLOWLOCATION")
        try easy.set(CURLOPT_MAXREDIRS, configuration.maxRedirects, "CURLOPT_MAXREDIRS")

        let timeouts = configuration.timeouts
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, max(1, Self.milliseconds(timeouts.connect)), "CURLOPT_CONNECTTIMEOUT_MS")
        try easy.set(CURLOPT_LOW_SPEED_LIMIT, max(1, timeouts.lowSpeedBytesPerSecond), "CURLOPT_LOW_SPEED_LIMIT")
        try easy.set(CURLOPT_LOW_SPEED_TIME, max(1, Int(timeouts.lowSpeedTime.components.seconds)), "CURLOPT_LOW_SPEED_TIME")
        if let limit = [timeouts.transfer, timeLeft].compactMap({ $0 }).min() {
            try easy.set(CURLOPT_TIMEOUT_MS, max(1, Self.milliseconds(limit)), "CURLOPT_TIMEOUT_MS")
        }

        let tls = configuration.tls
        try easy.set(CURLOPT_SSL_VERIFYPEER, tls.verifyPeer, "CURLOPT_SSL_VERIFYPEER")
        try easy.set(CURLOPT_SSL_VERIFYHOST, tls.verifyPeer ? 2 : 0, "CURLOPT_SSL_VERIFYHOST")
        if let ca = tls.caBundlePath { try easy.set(CURLOPT_CAINFO, ca, "CURLOPT_CAINFO") }
        if let cert = tls.clientCertificatePath { try easy.set(CURLOPT_SSLCERT, cert, "CURLOPT_SSLCERT") }
        if let key = tls.clientKeyPath { try easy.set(CURLOPT_SSLKEY, key, "CURLOPT_SSLKEY") }
        if let pin = tls.pinnedPublicKey { try easy.set(CURLOPT_PINNEDPUBLICKEY, pin, "CURLOPT_PINNEDPUBLICKEY") }

        if let socket = configuration.unixSocketPath {
            try easy.set(CURLOPT_UNIX_SOCKET_PATH, socket, "CURLOPT_UNIX_SOCKET_PATH")
            // A local socket is never reached through a proxy, whatever the environment says.
            try easy.set(CURLOPT_NOPROXY, "*", "CURLOPT_NOPROXY")
        } else {
            // Leaving CURLOPT_PROXY unset is what makes libcurl read the proxy environment variables.
            switch configuration.proxy {
            case .environment: break
            case .none: try easy.set(CURLOPT_NOPROXY, "*", "CURLOPT_NOPROXY")
            case .url(let proxy): try easy.set(CURLOPT_PROXY, proxy, "CURLOPT_PROXY")
            }
        }

        try configureMethod(me)

        var lines: [String] = []
        for field in request.headers {
            lines.append(field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)")
        }
        // libcurl waits up to a second for `100 Continue` before sending larger bodies; most
        // servers never send it, so don't ask.
        if request.body != nil, !request.headers.contains("Expect") { lines.append("Expect:") }
        if let requestBody, requestBody.size < 0, !request.headers.contains("Transfer-Encoding") {
            lines.append("Transfer-Encoding: chunked")
        }
        try easy.setHeaderLines(lines)
        if requestedOffset > 0 {
            try easy.set(CURLOPT_RANGE, "\(requestedOffset)-", "CURLOPT_RANGE")
        }

        try easy.set(CURLOPT_HEADERFUNCTION, callback: { buffer, size, count, me in
            Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue().receiveHeaderLine(buffer, size * count)
        }, "CURLOPT_HEADERFUNCTION")
        try easy.set(CURLOPT_HEADERDATA, pointer: me, "CURLOPT_HEADERDATA")
        try easy.set(CURLOPT_WRITEFUNCTION, callback: { buffer, size, count, me in
            Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue().receiveBody(buffer, size * count)
        }, "CURLOPT_WRITEFUNCTION")
        try easy.set(CURLOPT_WRITEDATA, pointer: me, "CURLOPT_WRITEDATA")
        try easy.setProgressCallback { me, downloadTotal, downloadNow, uploadTotal, uploadNow in
            Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue()
                .reportProgress(Int64(downloadTotal), Int64(downloadNow), Int64(uploadTotal), Int64(uploadNow))
        }
        try easy.set(CURLOPT_XFERINFODATA, pointer: me, "CURLOPT_XFERINFODATA")
        try easy.set(CURLOPT_NOPROGRESS, false, "CURLOPT_NOPROGRESS")
    }

    private func configureMethod(_ me: UnsafeMutableRawPointer) throws(CurlEasy.OptionError) {
        let method = request.method
        // -1 (a stream of unknown length): libcurl sends the body with chunked transfer encoding.
        let bodySize = requestBody?.size ?? 0
        if method == .head {
            try easy.set(CURLOPT_NOBODY, true, "CURLOPT_NOBODY")
        } else if method == .put {
            try easy.set(CURLOPT_UPLOAD, true, "CURLOPT_UPLOAD")
            try easy.set(CURLOPT_INFILESIZE_LARGE, offset: bodySize, "CURLOPT_INFILESIZE_LARGE")
        } else if method == .post || requestBody != nil {
            try easy.set(CURLOPT_POST, true, "CURLOPT_POST")
            try easy.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: bodySize, "CURLOPT_POSTFIELDSIZE_LARGE")
        }
        if method != .get && method != .head && method != .post && method != .put {
            try easy.set(CURLOPT_CUSTOMREQUEST, method.rawValue, "CURLOPT_CUSTOMREQUEST")
        }
        if method == .put || method == .post || requestBody != nil {
            try easy.set(CURLOPT_READFUNCTION, callback: { buffer, size, count, me in
                Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue().sendBody(buffer, size * count)
            }, "CURLOPT_READFUNCTION")
            try easy.set(CURLOPT_READDATA, pointer: me, "CURLOPT_READDATA")
            // Redirects (307/308) and authentication restarts resend the body from the start.
            try easy.setSeekCallback { me, offset, origin in
                Unmanaged<Transfer>.fromOpaque(me!).takeUnretainedValue().seekBody(Int64(offset), origin)
            }
            try easy.set(CURLOPT_SEEKDATA, pointer: me, "CURLOPT_SEEKDATA")
        }
    }

    /// Header injection guard: libcurl sends header lines as given.
    private func validate() throws(CurlEasy.OptionError) {
        let url = request.url.lowercased()
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw CurlEasy.OptionError(option: "CURLOPT_URL", message: "only http:// and https:// URLs are supported")
        }
        for field in request.headers {
            let nameOK = !field.name.isEmpty && field.name.utf8.allSatisfy { byte in
                byte > 32 && byte < 127 && byte != UInt8(ascii: ":") && byte != UInt8(ascii: ";")
            }
            let valueOK = field.value.utf8.allSatisfy { $0 != 10 && $0 != 13 && $0 != 0 }
            guard nameOK, valueOK else {
                throw CurlEasy.OptionError(option: "CURLOPT_HTTPHEADER", message: "invalid header field \"\(field.name)\"")
            }
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    // MARK: Callbacks (transfer thread)

    private func receiveHeaderLine(_ buffer: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int {
        guard let buffer else { return length }
        let bytes = UnsafeRawBufferPointer(start: buffer, count: length)
        var line = String(decoding: bytes, as: UTF8.self)
        while line.last == "\n" || line.last == "\r" || line.last == "\r\n" { line.removeLast() }
        if line.hasPrefix("HTTP/") {
            // A new response (after 1xx or a followed redirect): start over.
            let parts = line.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            headers = HTTPHeaders()
        } else if line.isEmpty {
            // End of a header block.
        } else if line.first == " " || line.first == "\t" {
            // obs-fold (RFC 9112 §5.2): continuation of the previous value.
            headers.appendToLastValue(" " + line.trimmingSpaces())
        } else if let colon = line.firstIndex(of: ":") {
            headers.add(String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingSpaces())
        }
        return length
    }

    private func receiveBody(_ buffer: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int {
        if isCancelled || abortReason != nil { return 0 }
        if !bodyStarted {
            startBody()
            if abortReason != nil { return 0 }
        }
        received += Int64(length)
        let chunk = UnsafeRawBufferPointer(start: buffer, count: length)
        if bodyToSink, case .sink(let box) = destination {
            do {
                try box.sink.write(chunk)
            } catch {
                abortReason = sinkFailure(error)
                return 0
            }
            return length
        }
        let limit: Int64
        if case .memory(let memoryLimit) = destination { limit = memoryLimit } else { limit = Int64(Self.errorBodyLimit) }
        if Int64(memoryBody.count) + Int64(length) > limit {
            if case .memory = destination {
                abortReason = HTTPError(kind: .bodyTooLarge(limit: limit), method: request.method, url: request.url,
                                        message: "response body exceeds the limit of \(limit) bytes",
                                        response: currentHead())
            } else {
                errorBodyAbandoned = true
            }
            return 0
        }
        memoryBody.append(contentsOf: chunk)
        return length
    }

    /// The head is complete: decide where the body goes. Also called at the end for bodiless responses.
    private func startBody() {
        bodyStarted = true
        if status == 0 { status = easy.infoInt(CURLINFO_RESPONSE_CODE) }
        let head = currentHead()
        switch destination {
        case .memory(let limit):
            guard request.method != .head, let length = head.headers["Content-Length"].flatMap({ Int64($0) }) else { break }
            if length > limit {
                abortReason = HTTPError(kind: .bodyTooLarge(limit: limit), method: request.method, url: request.url,
                                        message: "response announces \(length) bytes, more than the limit of \(limit)",
                                        response: head)
            } else if length > 0 {
                // One allocation for the whole body instead of repeated growth and copies.
                memoryBody.reserveCapacity(Int(length))
            }
        case .sink(let box):
            guard head.isSuccess else { return }
            bodyToSink = true
            var offset: Int64 = 0
            if status == 206 {
                guard requestedOffset > 0, let start = Self.contentRangeStart(head.headers["Content-Range"]),
                      start == requestedOffset else {
                    abortReason = HTTPError(kind: .protocolViolation, method: request.method, url: request.url,
                                            message: "server answered 206 with Content-Range \"\(head.headers["Content-Range"] ?? "")\" to a request for bytes \(requestedOffset)-",
                                            response: head)
                    return
                }
                offset = requestedOffset
            }
            bodyOffset = offset
            do {
                try box.sink.begin(head, at: offset)
            } catch {
                abortReason = sinkFailure(error)
            }
        }
    }

    private func sendBody(_ buffer: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int {
        guard !isCancelled, let requestBody, let buffer else { return isCancelled ? Int(CURL_READFUNC_ABORT) : 0 }
        do {
            return try requestBody.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: length))
        } catch {
            abortReason = error
            return Int(CURL_READFUNC_ABORT)
        }
    }

    private func seekBody(_ offset: Int64, _ origin: Int32) -> Int32 {
        guard origin == SEEK_SET, let requestBody, requestBody.seek(to: offset) else { return CURL_SEEKFUNC_CANTSEEK }
        return CURL_SEEKFUNC_OK
    }

    private func reportProgress(_ downloadTotal: Int64, _ downloadNow: Int64, _ uploadTotal: Int64, _ uploadNow: Int64) -> Int32 {
        if isCancelled { return 1 }
        guard let progress else { return 0 }
        if bodyStarted && !bodyToSink, case .sink = destination { return 0 }
        let base = bodyStarted ? bodyOffset : requestedOffset
        let now = HTTPProgress(received: base + downloadNow, expected: downloadTotal > 0 ? base + downloadTotal : nil,
                               sent: uploadNow, toSend: uploadTotal > 0 ? uploadTotal : nil)
        if now != lastProgress {
            lastProgress = now
            progress(now)
        }
        return 0
    }

    private func sinkFailure(_ error: any Error) -> HTTPError {
        if let error = error as? HTTPError { return error }
        return HTTPError(kind: .sink, method: request.method, url: request.url,
                         message: "the body's destination failed: \(error)", response: currentHead(), underlying: error)
    }

    private func currentHead() -> HTTPResponseHead {
        HTTPResponseHead(status: status, headers: headers, url: easy.infoString(CURLINFO_EFFECTIVE_URL) ?? request.url)
    }

    static func contentRangeStart(_ value: String?) -> Int64? {
        // "bytes 100-199/200" (RFC 9110 §14.4)
        guard let value, value.hasPrefix("bytes ") else { return nil }
        let range = value.dropFirst(6).prefix { $0 != "/" }
        guard let dash = range.firstIndex(of: "-") else { return nil }
        return Int64(range[..<dash])
    }

    // MARK: Completion (transfer thread, after the handle left the multi handle)

    func finish(_ code: CURLcode) -> AttemptOutcome {
        var outcome = AttemptOutcome(result: .cancelled)
        outcome.connectionsOpened = easy.infoInt(CURLINFO_NUM_CONNECTS)
        outcome.bodyBytesReceived = received
        if isCancelled { return outcome }
        if code == CURLE_OK, !bodyStarted, abortReason == nil {
            startBody()
        }
        if code == CURLE_OK, abortReason == nil, bodyToSink, case .sink(let box) = destination {
            do { try box.sink.finish() } catch { abortReason = sinkFailure(error) }
        }
        let head = currentHead()
        if let abortReason {
            outcome.result = .failure(abortReason)
        } else if code == CURLE_OK || errorBodyAbandoned {
            if case .sink = destination, !head.isSuccess {
                outcome.result = .failure(HTTPError(kind: .status(head.status), method: request.method, url: request.url,
                                                    message: HTTPError.reasonPhrase(head.status), response: head,
                                                    bodyExcerpt: Array(memoryBody.prefix(HTTPError.bodyExcerptLimit))))
            } else {
                outcome.result = .response(head, body: memoryBody)
                outcome.resumedFrom = bodyOffset
            }
        } else {
            let text = easy.failureText(code)
            outcome.result = .failure(HTTPError(kind: Self.kind(of: code, text), method: request.method, url: request.url,
                                                message: text, response: status == 0 ? nil : head))
        }
        return outcome
    }

    static func kind(of code: CURLcode, _ text: String) -> HTTPError.Kind {
        switch code {
        case CURLE_SEND_ERROR where text.lowercased().contains("alert"),
             CURLE_RECV_ERROR where text.lowercased().contains("alert"):
            // With TLS 1.3 the server checks the client certificate after the client considers
            // the handshake done, so a refusal arrives as a TLS alert on the first read
            // ("tlsv13 alert certificate required", "alert unknown ca"): not transient. A server
            // that closes without reading the request may reset the connection before the alert
            // is read; that surfaces as `.connectionLost`, retried within the bounds.
            return .tls
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT, CURLE_BAD_FUNCTION_ARGUMENT:
            return .invalidRequest
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .couldNotResolveHost
        case CURLE_COULDNT_CONNECT:
            return .couldNotConnect
        case CURLE_OPERATION_TIMEDOUT:
            return .timedOut
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
             CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_HTTP3:
            return .connectionLost
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
             CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CRL_BADFILE, CURLE_SSL_INVALIDCERTSTATUS,
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
             CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CLIENTCERT:
            return .tls
        case CURLE_TOO_MANY_REDIRECTS:
            return .tooManyRedirects
        case CURLE_WEIRD_SERVER_REPLY, CURLE_RANGE_ERROR, CURLE_BAD_CONTENT_ENCODING:
            return .protocolViolation
        default:
            return .transport(curlCode: Int(code.rawValue))
        }
    }
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\t" { view.removeLast() }
        return String(view)
    }
}
