extension HTTPClient {
    public struct Configuration: Sendable {
        public var tls: TLS
        public var timeouts: Timeouts
        public var retry: RetryPolicy
        public var proxy: Proxy
        /// Redirects followed at most per request (when the request follows redirects).
        public var maxRedirects: Int
        public var userAgent: String
        /// Connect to this unix-domain socket instead of the URL's host and port
        /// (`CURLOPT_UNIX_SOCKET_PATH`): the Docker Engine API on `/var/run/docker.sock`. URLs
        /// keep their form (`http://localhost/v1.41/_ping`); the host only fills the `Host`
        /// header. Proxies never apply to such a client.
        public var unixSocketPath: String?
        /// Download at most this many bytes per second per transfer (`CURLOPT_MAX_RECV_SPEED_LARGE`):
        /// a device on a metered or shared link; nil is as fast as the link goes.
        public var maxReceiveBytesPerSecond: Int64?

        public init(tls: TLS = TLS(), timeouts: Timeouts = Timeouts(), retry: RetryPolicy = RetryPolicy(),
                    proxy: Proxy = .environment, maxRedirects: Int = 10, userAgent: String = "otter",
                    unixSocketPath: String? = nil) {
            self.tls = tls
            self.timeouts = timeouts
            self.retry = retry
            self.proxy = proxy
            self.maxRedirects = maxRedirects
            self.userAgent = userAgent
            self.unixSocketPath = unixSocketPath
        }
    }

    /// TLS settings. Peer and host verification are on unless `verifyPeer` is set to false.
    public struct TLS: Sendable {
        /// PEM bundle of the CAs trusted for servers (a factory's private root). nil: the system store.
        public var caBundlePath: String?
        /// PEM client certificate for mutual TLS (the device certificate).
        public var clientCertificatePath: String?
        /// PEM private key of the client certificate.
        public var clientKeyPath: String?
        /// Pin the server's public key: `sha256//<base64>` (several joined by `;`), or the path
        /// of a PEM/DER public key (`CURLOPT_PINNEDPUBLICKEY`).
        public var pinnedPublicKey: String?
        /// Turning this off disables certificate and host-name verification; for development only.
        public var verifyPeer: Bool

        public init(caBundlePath: String? = nil, clientCertificatePath: String? = nil, clientKeyPath: String? = nil,
                    pinnedPublicKey: String? = nil, verifyPeer: Bool = true) {
            self.caBundlePath = caBundlePath
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.pinnedPublicKey = pinnedPublicKey
            self.verifyPeer = verifyPeer
        }
    }

    /// Every transfer ends: a dead server fails at connect, a stalled one at the low-speed limit.
    public struct Timeouts: Sendable {
        /// Time allowed to establish the connection (TCP + TLS).
        public var connect: Duration
        /// A transfer slower than `lowSpeedBytesPerSecond` for `lowSpeedTime` is aborted as stalled
        /// (`CURLOPT_LOW_SPEED_LIMIT` / `_TIME`; whole seconds, at least 1).
        public var lowSpeedBytesPerSecond: Int
        public var lowSpeedTime: Duration
        /// Upper bound for one attempt from start to end; nil for none (large downloads rely on
        /// the stall detection instead). Retries get a fresh allowance each.
        public var transfer: Duration?
        /// Upper bound for a whole call: every attempt and the pauses between them. When it runs
        /// out the call fails with `.timedOut`; nil for none.
        public var overall: Duration?

        public init(connect: Duration = .seconds(30), lowSpeedBytesPerSecond: Int = 1,
                    lowSpeedTime: Duration = .seconds(60), transfer: Duration? = nil, overall: Duration? = nil) {
            self.connect = connect
            self.lowSpeedBytesPerSecond = lowSpeedBytesPerSecond
            self.lowSpeedTime = lowSpeedTime
            self.transfer = transfer
            self.overall = overall
        }
    }

    /// Bounded retries with exponential backoff for transient failures: connection refused or
    /// broken, name resolution, timeouts and stalls, 408, 429 and 5xx. Never for other 4xx,
    /// TLS failures, size limits or cancellation. `Retry-After` (seconds) is honoured up to
    /// `maxDelay`. Downloads to files and resumable sinks continue from where the attempt broke.
    public struct RetryPolicy: Sendable {
        /// Attempts in total, including the first (1 disables retries).
        public var maxAttempts: Int
        public var initialDelay: Duration
        public var maxDelay: Duration
        public var multiplier: Double

        public init(maxAttempts: Int = 4, initialDelay: Duration = .milliseconds(500),
                    maxDelay: Duration = .seconds(30), multiplier: Double = 2) {
            self.maxAttempts = maxAttempts
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
            self.multiplier = multiplier
        }

        public static let none = RetryPolicy(maxAttempts: 1)

        /// The pause before attempt `attempt + 1` (attempt counts from 1).
        func delay(after attempt: Int) -> Duration {
            var delay = initialDelay
            for _ in 1..<max(attempt, 1) {
                delay = delay * multiplier
                if delay >= maxDelay { return maxDelay }
            }
            return min(delay, maxDelay)
        }
    }

    public enum Proxy: Sendable, Equatable {
        /// libcurl's default: `http_proxy` (lower case only, for http URLs), `https_proxy` /
        /// `HTTPS_PROXY`, `all_proxy` / `ALL_PROXY`, and `no_proxy` / `NO_PROXY` for exceptions.
        case environment
        /// Never use a proxy, whatever the environment says.
        case none
        /// This proxy for every request (`http://host:port`, `socks5h://…`); `no_proxy` still applies.
        case url(String)
    }
}
