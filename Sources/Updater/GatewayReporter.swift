import FoundationEssentials
import Glibc
import HTTP

/// What a registered device tells its gateway (REFERENCE §3): the queued update events
/// (`POST /events`), its hardware, network and running config (`PUT /system_info…`) and its apps
/// (`POST /apps-states`). Events leave the state database only after the gateway answered 2xx,
/// so nothing is lost while the device is offline.
public struct GatewayReporter: Sendable {
    /// `https://gateway:8443`, no trailing slash.
    public let baseURL: String
    let client: HTTPClient
    /// Sent with every request (the device's `x-ats-*` state at that moment).
    let headers: @Sendable () -> HTTPHeaders
    /// Events per `POST /events`, and batches per upload, so one call stays short.
    public var batchSize = 50
    public var maxBatches = 20

    public init(baseURL: String, client: HTTPClient, headers: @escaping @Sendable () -> HTTPHeaders = { [:] }) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.client = client
        self.headers = headers
    }

    /// The gateway of a registered device: `[servers] gateway_url` (or `tuf_url` without its
    /// `/repo`) over https with the device's client certificate. Nil when not registered.
    public init?(configuration config: OtterConfiguration, headers: @escaping @Sendable () -> HTTPHeaders = { [:] }) {
        guard let url = config.servers.gatewayURL, config.servers.tlsClientCertificate != nil else { return nil }
        self.init(baseURL: url, client: HTTPClient(configuration: .init(
            tls: config.servers.tls, timeouts: .init(connect: .seconds(15), overall: .seconds(60)), retry: .init(maxAttempts: 2))),
                  headers: headers)
    }

    // MARK: events

    /// Uploads the queue oldest first in batches; returns how many events the gateway took. A
    /// failed batch stays queued (the error says why) and is sent again next time.
    @discardableResult
    public func uploadEvents(from store: StateStore) async throws -> Int {
        var sent = 0
        for _ in 0..<maxBatches {
            let batch = try store.queuedEvents(limit: batchSize)
            guard let last = batch.last else { break }
            let events = batch.compactMap(Self.lmpEvent)
            if !events.isEmpty {
                try await send(.post, "/events", json: events)
            }
            try store.dequeueEvents(through: last.id)
            sent += events.count
            if batch.count < batchSize { break }
        }
        return sent
    }

    /// The aktualizr/fioup event of a step event, or nil for steps the backend has no type for.
    struct LmPEvent: Encodable, Equatable {
        struct Kind: Encodable, Equatable { var id: String; var version = 0 }
        struct Body: Encodable, Equatable {
            var correlationId: String
            var targetName: String
            var version: String
            var success: Bool?
            var details: String?
        }
        var id: String
        var deviceTime: String
        var eventType: Kind
        var event: Body
    }

    static func lmpEvent(_ queued: QueuedEvent) -> LmPEvent? {
        let e = queued.event
        let type: String
        var success: Bool?
        switch (e.step, e.result) {
        case ("fetch", .started): type = "EcuDownloadStarted"
        case ("fetch", let result): (type, success) = ("EcuDownloadCompleted", result == .succeeded)
        case ("install-apps", .started): type = "EcuInstallationStarted"
        case ("reboot", .succeeded): (type, success) = ("EcuInstallationApplied", true)
        case ("update", .succeeded) where e.detail?.hasPrefix("paused") != true: (type, success) = ("EcuInstallationCompleted", true)
        case ("update", .failed): (type, success) = ("EcuInstallationCompleted", false)
        default: return nil
        }
        let correlation = wordOnly(e.correlationID)
        return LmPEvent(id: String("\(correlation)-\(queued.id)-\(type)".prefix(128)), deviceTime: rfc3339(e.time),
                        eventType: .init(id: type),
                        event: .init(correlationId: correlation, targetName: e.target, version: e.version, success: success,
                                     details: e.detail.map { String($0.prefix(2048)) }))
    }

    /// The gateway takes correlation ids of `[A-Za-z0-9_-]` only (versions may hold dots).
    static func wordOnly(_ text: String) -> String {
        String(decoding: text.utf8.map { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D || byte == 0x5F
                ? byte : UInt8(ascii: "_")
        }, as: UTF8.self)
    }

    // MARK: system info and apps

    /// `PUT /system_info`: what this machine is.
    public func putSystemInfo(hardwareID: String?) async throws {
        var names = utsname()
        uname(&names)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { bytes in String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self) }
        }
        let info = ["class": "system", "id": field(names.nodename), "product": hardwareID ?? "unknown",
                    "kernel": field(names.release), "machine": field(names.machine), "agent": "otter"]
        try await send(.put, "/system_info", json: info)
    }

    /// `PUT /system_info/network`.
    public func putNetworkInfo() async throws {
        try await send(.put, "/system_info/network", json: NetworkInfo.current())
    }

    /// `PUT /system_info/config`: the fragments as read, each under a `# path` line.
    public func putConfig(_ config: OtterConfiguration) async throws {
        try await send(.put, "/system_info/config", body: Array(Self.runningConfig(config).utf8), contentType: "application/toml")
    }

    static func runningConfig(_ config: OtterConfiguration) -> String {
        config.files.map { file in
            "# \(file)\n" + (FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) } ?? "# (unreadable)\n")
        }.joined(separator: "\n")
    }

    /// `POST /apps-states` body: the current Target's apps, running or not.
    public struct AppsStates: Codable, Equatable, Sendable {
        public struct App: Codable, Equatable, Sendable { public var uri: String; public var state: String }
        public var deviceTime: String
        public var ostree: String?
        public var apps: [String: App]

        /// Equal apart from the time: nothing to send again.
        public func sameState(as other: AppsStates?) -> Bool { other.map { $0.ostree == ostree && $0.apps == apps } ?? false }
    }

    public static func appsStates(current: Target?, running: [AppRef], at date: Date) -> AppsStates {
        var apps: [String: AppsStates.App] = [:]
        for app in current?.apps ?? running {
            apps[app.name] = .init(uri: app.uri, state: running.contains(app) ? "running" : "stopped")
        }
        return AppsStates(deviceTime: rfc3339(date), ostree: current?.osCommit, apps: apps)
    }

    public func postAppsStates(_ states: AppsStates) async throws {
        try await send(.post, "/apps-states", json: states)
    }

    // MARK: HTTP

    func send(_ method: HTTPMethod, _ path: String, json value: some Encodable) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try await send(method, path, body: Array(try encoder.encode(value)), contentType: "application/json")
    }

    func send(_ method: HTTPMethod, _ path: String, body: [UInt8], contentType: String) async throws {
        var fields = headers()
        fields.add("Content-Type", contentType)
        let response = try await client.send(HTTPRequest(method: method, url: baseURL + path, headers: fields, body: .bytes(body)))
        guard response.isSuccess else {
            throw UpdaterError("the gateway refused \(method) \(path) (HTTP \(response.status)): \(String(decoding: response.body.prefix(300), as: UTF8.self)); it is sent again at the next check")
        }
    }
}

/// `{hostname, local_ipv4, mac}` of the first up, non-loopback IPv4 interface.
struct NetworkInfo: Encodable, Equatable {
    var hostname: String
    var local_ipv4: String?
    var mac: String?

    static func current() -> NetworkInfo {
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count)
        var info = NetworkInfo(hostname: String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return info }
        defer { freeifaddrs(list) }
        var entry = list
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            let flags = current.pointee.ifa_flags
            let up: UInt32 = 0x1, loopback: UInt32 = 0x8  // IFF_UP, IFF_LOOPBACK (<net/if.h>)
            guard let address = current.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & up != 0, flags & loopback == 0 else { continue }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                var addr = inet.pointee.sin_addr
                _ = inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
            }
            let name = String(cString: current.pointee.ifa_name)
            info.local_ipv4 = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            info.mac = FileManager.default.contents(atPath: "/sys/class/net/\(name)/address")
                .flatMap { String(decoding: $0, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init) }
            break
        }
        return info
    }
}

/// What the daemon has told the gateway since it started: system info once, the config and the
/// apps states again only when they changed. Codable: it is kept in a file between the child
/// processes that run the checks (otter-supervisor).
public struct GatewayReportState: Codable, Sendable {
    var sentSystemInfo = false
    var sentConfig: String?
    var sentApps: GatewayReporter.AppsStates?

    public init() {}

    /// Sends everything due; returns one line per report that failed (each is retried next time).
    public mutating func report(_ agent: DeviceAgent) async -> [String] {
        let store = agent.store, tag = agent.configuration.device.tag
        guard let gateway = GatewayReporter(configuration: agent.configuration, headers: {
            DeviceAgent.deviceHeaders(current: (try? store.current()) ?? nil, tag: tag)
        }) else { return [] }
        var failures: [String] = []
        func attempt(_ what: String, _ body: () async throws -> Void) async -> Bool {
            do { try await body(); return true } catch { failures.append("\(what): \(error)"); return false }
        }
        _ = await attempt("events") { try await gateway.uploadEvents(from: agent.store) }
        if !sentSystemInfo {
            sentSystemInfo = await attempt("system info") {
                try await gateway.putSystemInfo(hardwareID: agent.configuration.device.hardwareID)
                try await gateway.putNetworkInfo()
            }
        }
        let config = GatewayReporter.runningConfig(agent.configuration)
        if config != sentConfig, await attempt("config", { try await gateway.putConfig(agent.configuration) }) {
            sentConfig = config
        }
        let running = (try? await agent.apps.running()) ?? []
        let states = GatewayReporter.appsStates(current: (try? agent.store.current()) ?? nil, running: running, at: agent.clock.now())
        if !states.sameState(as: sentApps), await attempt("apps states", { try await gateway.postAppsStates(states) }) {
            sentApps = states
        }
        return failures
    }
}
