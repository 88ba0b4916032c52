import FoundationEssentials

/// A report body that does not follow its schema; the gateway answers 400 with `message` and
/// stores nothing.
public struct ReportError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Any JSON document, for checking report bodies member by member.
public enum ReportJSON: Sendable, Equatable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([ReportJSON])
    case object([String: ReportJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([ReportJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: ReportJSON].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses a body; the error names the report so the device's log says what was refused.
    public static func parse(_ bytes: [UInt8], what: String) throws(ReportError) -> ReportJSON {
        do {
            return try JSONDecoder().decode(ReportJSON.self, from: Data(bytes))
        } catch {
            throw ReportError("\(what) is not valid JSON")
        }
    }

    var object: [String: ReportJSON]? { if case .object(let o) = self { o } else { nil } }
    var string: String? { if case .string(let s) = self { s } else { nil } }

    var compactText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }
}

/// Checks an object's members: every required one present, none outside `allowed`.
func members(of value: ReportJSON, _ what: String, required: Set<String>, optional: Set<String> = [])
    throws(ReportError) -> [String: ReportJSON] {
    guard let object = value.object else { throw ReportError("\(what) must be a JSON object") }
    if let missing = required.subtracting(object.keys).sorted().first {
        throw ReportError("\(what) has no \"\(missing)\"")
    }
    if let unknown = Set(object.keys).subtracting(required).subtracting(optional).sorted().first {
        throw ReportError("\(what) has an unknown member \"\(unknown)\"")
    }
    return object
}

/// One update event (`POST /events`), in the aktualizr/fioup shape:
/// `{"id","deviceTime","eventType":{"id","version"},"event":{"correlationId","targetName","version","success"?,"ecu"?,"details"?}}`.
public struct DeviceEvent: Sendable, Equatable, Codable {
    public static let types: Set<String> = [
        "MetadataUpdateCompleted", "EcuDownloadStarted", "EcuDownloadCompleted", "EcuInstallationStarted",
        "EcuInstallationApplied", "EcuInstallationCompleted", "CertRotationStarted", "CertRotationCompleted",
        "UpdateInitStarted", "UpdateInitCompleted",
    ]
    public static let maxDetails = 2048

    public var id: String
    public var deviceTime: String
    public var type: String
    public var typeVersion: Int
    public var correlationID: String
    public var targetName: String?
    public var version: String?
    public var success: Bool?
    public var ecu: String?
    public var details: String?
    /// When the gateway stored it (seconds since the epoch); nil before.
    public var receivedAt: Double?

    /// The events of a `POST /events` body; throws on the first event that breaks the schema.
    public static func parseAll(_ bytes: [UInt8]) throws(ReportError) -> [DeviceEvent] {
        guard case .array(let items) = try ReportJSON.parse(bytes, what: "the events body") else {
            throw ReportError("the events body must be a JSON array of events")
        }
        guard items.count <= 1000 else { throw ReportError("at most 1000 events per request, got \(items.count)") }
        var seen = Set<String>()
        var result: [DeviceEvent] = []
        for (index, item) in items.enumerated() {
            let event = try DeviceEvent(item, what: "event \(index)")
            if seen.insert(event.id).inserted { result.append(event) }
        }
        return result
    }

    init(_ value: ReportJSON, what: String) throws(ReportError) {
        let top = try members(of: value, what, required: ["id", "deviceTime", "eventType", "event"])
        guard let id = top["id"]?.string, !id.isEmpty, id.utf8.count <= 128 else {
            throw ReportError("\(what): \"id\" must be a non-empty string of at most 128 bytes")
        }
        guard let time = top["deviceTime"]?.string, isRFC3339(time) else {
            throw ReportError("\(what): \"deviceTime\" must be an RFC 3339 time such as 2026-12-01T10:00:00Z")
        }
        let kind = try members(of: top["eventType"]!, "\(what) eventType", required: ["id", "version"])
        guard let type = kind["id"]?.string, Self.types.contains(type) else {
            throw ReportError("\(what): unknown event type \(kind["id"]?.compactText ?? "null"); known: \(Self.types.sorted().joined(separator: ", "))")
        }
        guard case .number(let typeVersion) = kind["version"]!, typeVersion >= 0, typeVersion <= 100,
              typeVersion == typeVersion.rounded() else {
            throw ReportError("\(what): eventType.version must be a small integer")
        }
        let body = try members(of: top["event"]!, "\(what) event", required: ["correlationId"],
                               optional: ["targetName", "version", "success", "ecu", "details"])
        guard let correlation = body["correlationId"]?.string, !correlation.isEmpty, correlation.utf8.count <= 256,
              correlation.utf8.allSatisfy({ isWordByte($0) }) else {
            throw ReportError("\(what): correlationId must match ^[a-zA-Z0-9_-]+$")
        }
        func text(_ key: String, limit: Int = 256) throws(ReportError) -> String? {
            switch body[key] {
            case nil, .null?: return nil
            case .string(let s)? where s.utf8.count <= limit: return s
            default: throw ReportError("\(what): event.\(key) must be a string of at most \(limit) bytes")
            }
        }
        var success: Bool?
        switch body["success"] {
        case nil, .null?: success = nil
        case .bool(let b)?: success = b
        default: throw ReportError("\(what): event.success must be true or false")
        }
        self.id = id
        self.deviceTime = time
        self.type = type
        self.typeVersion = Int(typeVersion)
        self.correlationID = correlation
        self.targetName = try text("targetName")
        self.version = try text("version")
        self.success = success
        self.ecu = try text("ecu")
        self.details = try text("details", limit: Self.maxDetails + 64)
        self.receivedAt = nil
    }

    init(row: SQLRow) {
        id = row.string("id") ?? ""
        deviceTime = row.string("device_time") ?? ""
        type = row.string("event_type") ?? ""
        typeVersion = row.int("event_version") ?? 0
        correlationID = row.string("correlation_id") ?? ""
        targetName = row.string("target_name")
        version = row.string("version")
        success = row.bool("success")
        ecu = row.string("ecu")
        details = row.string("details")
        receivedAt = row.double("received_at")
    }
}

/// What `POST /apps-states` reports: `{"deviceTime","ostree"?,"apps":{name:{…}}}`.
public struct AppsStates: Sendable, Equatable, Codable {
    public var deviceTime: String
    public var ostree: String?
    /// The `apps` object as compact JSON (states, services, health as the device sent them).
    public var appsJSON: String
    public var receivedAt: Double?

    public init(deviceTime: String, ostree: String?, appsJSON: String, receivedAt: Double? = nil) {
        self.deviceTime = deviceTime
        self.ostree = ostree
        self.appsJSON = appsJSON
        self.receivedAt = receivedAt
    }

    public static func parse(_ bytes: [UInt8]) throws(ReportError) -> AppsStates {
        let value = try ReportJSON.parse(bytes, what: "the apps-states body")
        guard value.object != nil else { throw ReportError("the apps-states body must be a JSON object") }
        let top = try members(of: value, "apps-states", required: ["deviceTime"], optional: ["ostree", "apps"])
        guard let time = top["deviceTime"]?.string, isRFC3339(time) else {
            throw ReportError("apps-states: \"deviceTime\" must be an RFC 3339 time such as 2026-12-01T10:00:00Z")
        }
        var ostree: String?
        switch top["ostree"] {
        case nil, .null?: ostree = nil
        case .string(let s)?: ostree = s
        default: throw ReportError("apps-states: \"ostree\" must be a string")
        }
        let apps = top["apps"] ?? .object([:])
        guard let appsObject = apps.object else { throw ReportError("apps-states: \"apps\" must be an object of apps") }
        for (name, app) in appsObject {
            let fields = try members(of: app, "apps-states app \(name)", required: [],
                                     optional: ["uri", "state", "services", "health", "reason", "update"])
            if let services = fields["services"] {
                guard case .array(let list) = services else {
                    throw ReportError("apps-states app \(name): \"services\" must be an array")
                }
                for service in list where service.object == nil {
                    throw ReportError("apps-states app \(name): every service must be an object")
                }
            }
        }
        return AppsStates(deviceTime: time, ostree: ostree, appsJSON: apps.compactText)
    }
}

/// `PUT /system_info/network`: `{hostname, mac, local_ipv4}` (extra members are kept; devices
/// add interfaces).
func checkNetworkInfo(_ bytes: [UInt8]) throws(ReportError) {
    let value = try ReportJSON.parse(bytes, what: "the network info body")
    guard let object = value.object else { throw ReportError("the network info body must be a JSON object") }
    for key in ["hostname", "mac", "local_ipv4"] {
        if let member = object[key], member.string == nil, member != .null {
            throw ReportError("network info: \"\(key)\" must be a string")
        }
    }
}

func isWordByte(_ byte: UInt8) -> Bool {
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2D || byte == 0x5F
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
func isRFC3339(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    guard bytes.count >= 20, bytes.count <= 40 else { return false }
    func digits(_ range: Range<Int>) -> Bool { range.allSatisfy { bytes[$0] >= 0x30 && bytes[$0] <= 0x39 } }
    guard digits(0..<4), bytes[4] == 0x2D, digits(5..<7), bytes[7] == 0x2D, digits(8..<10),
          bytes[10] == 0x54 || bytes[10] == 0x74, digits(11..<13), bytes[13] == 0x3A, digits(14..<16), bytes[16] == 0x3A,
          digits(17..<19) else { return false }
    var index = 19
    if bytes[index] == 0x2E {
        index += 1
        let start = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
        guard index > start else { return false }
    }
    guard index < bytes.count else { return false }
    if bytes[index] == 0x5A || bytes[index] == 0x7A { return index + 1 == bytes.count }
    guard bytes[index] == 0x2B || bytes[index] == 0x2D, bytes.count == index + 6 else { return false }
    return digits(index + 1..<index + 3) && bytes[index + 3] == 0x3A && digits(index + 4..<index + 6)
}
