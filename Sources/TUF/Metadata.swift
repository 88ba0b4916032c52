/// One signature of a metadata envelope. `sig` is kept as text: an empty or non-hex value just
/// does not count.
public struct Signature: Sendable {
    public let keyid: String
    public let sig: String
}

/// The fields every `signed` object has (TUF §4.2 "Common").
public struct CommonFields: Sendable {
    public let type: String
    public let specVersion: String
    public let version: Int64
    public let expires: Timestamp
    public let expiresText: String

    init(_ signed: JSONObject, role: String) throws(TUFError) {
        guard let type = signed["_type"]?.stringValue else {
            throw TUFError(.malformed, "\(role): signed._type is missing or not a string")
        }
        guard let spec = signed["spec_version"]?.stringValue else {
            throw TUFError(.malformed, "\(role): signed.spec_version is missing or not a string")
        }
        let parts = spec.split(separator: ".", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) }),
              parts[0] == "1" else {
            throw TUFError(.malformed, "\(role): unsupported spec_version \"\(spec)\" (this client implements 1.x)")
        }
        guard let version = signed["version"]?.integerValue, version > 0 else {
            throw TUFError(.malformed, "\(role): signed.version must be a positive integer")
        }
        guard let expiresText = signed["expires"]?.stringValue, let expires = Timestamp(tufExpires: expiresText) else {
            throw TUFError(.malformed, "\(role): signed.expires must look like 2030-01-01T00:00:00Z")
        }
        self.type = type
        self.specVersion = spec
        self.version = version
        self.expires = expires
        self.expiresText = expiresText
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

/// The bytes a signature covers: a range of a buffer (the received file, or a canonical copy).
public struct Payload: Sendable {
    public let bytes: [UInt8]
    public let range: Range<Int>

    public func withBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    public var contents: [UInt8] { Array(bytes[range]) }
}

/// A member of `signed` left as received bytes instead of a parsed tree (a role's bulk, such
/// as the `targets` map of a large targets file).
public struct RawValue: Sendable {
    public let bytes: [UInt8]
    public let range: Range<Int>
}

/// What a role's `signed` object parses into.
public protocol SignedRole: Sendable {
    static var type: String { get }
    /// A member of `signed` the role wants as `RawValue` rather than as a tree.
    static var rawMember: String? { get }
    var common: CommonFields { get }
    init(signed: JSONObject, raw: RawValue?, role: String) throws(TUFError)
}

extension SignedRole {
    public static var rawMember: String? { nil }
    public var version: Int64 { common.version }
    public var expires: Timestamp { common.expires }
    public func isExpired(at now: Timestamp) -> Bool { now >= common.expires }

    public init(signed: JSONObject, role: String) throws(TUFError) {
        try self.init(signed: signed, raw: nil, role: role)
    }
}

/// A metadata file: the `signatures` and the parsed `signed` object. The signed payload is the
/// canonical JSON of `signed` exactly as received, unknown members included.
public struct Metadata<Role: SignedRole>: Sendable {
    public let signatures: [Signature]
    public let signed: Role
    private enum Source: Sendable {
        case tree(JSONObject)
        case raw([UInt8], Range<Int>)
    }
    private let source: Source

    /// Parses `bytes` as metadata of `Role`. `role` names the file in errors.
    ///
    /// The envelope is split without building one tree for the whole file: each member of
    /// `signed` is parsed on its own by the strict parser (the role's raw member entry by entry,
    /// by the role), and the payload is canonicalised straight from `bytes`.
    public static func parse(_ bytes: [UInt8], role: String, parser: JSONParser = JSONParser()) throws(TUFError) -> Metadata {
        guard bytes.count <= parser.maxBytes else {
            throw TUFError(.malformed, "\(role): \(bytes.count) bytes, more than the limit of \(parser.maxBytes)")
        }
        do {
            let top = try RawJSON.members(of: bytes, in: 0..<bytes.count)
            var signatures: JSON?
            var signedRange: Range<Int>?
            for member in top {
                if member.key == "signed" {
                    signedRange = member.range
                } else {
                    let value = try parser.parse(Array(bytes[member.range]))
                    if member.key == "signatures" { signatures = value }
                }
            }
            guard let signedRange else { throw TUFError(.malformed, "\(role): metadata has no \"signed\" object") }
            let members = try RawJSON.members(of: bytes, in: signedRange)
            var signed = JSONObject()
            var raw: RawValue?
            for member in members {
                if member.key == Role.rawMember {
                    raw = RawValue(bytes: bytes, range: member.range)
                } else {
                    signed[member.key] = try parser.parse(Array(bytes[member.range]))
                }
            }
            return try Metadata(signatures: signatures, signed: signed, raw: raw, source: .raw(bytes, signedRange), role: role)
        } catch let error as JSONError {
            throw TUFError(.malformed, "\(role): \(error)")
        } catch let error as TUFError {
            throw error
        } catch {
            throw TUFError(.malformed, "\(role): \(error)")
        }
    }

    public init(json: JSON, role: String) throws(TUFError) {
        guard let top = json.objectValue else { throw TUFError(.malformed, "\(role): metadata is not a JSON object") }
        guard let signed = top["signed"]?.objectValue else {
            throw TUFError(.malformed, "\(role): metadata has no \"signed\" object")
        }
        try self.init(signatures: top["signatures"], signed: signed, raw: nil, source: .tree(signed), role: role)
    }

    private init(signatures json: JSON?, signed: JSONObject, raw: RawValue?, source: Source, role: String) throws(TUFError) {
        guard let list = json?.arrayValue else {
            throw TUFError(.malformed, "\(role): metadata has no \"signatures\" array")
        }
        var signatures: [Signature] = []
        var seen = Set<String>()
        for entry in list {
            guard let keyid = entry["keyid"]?.stringValue, let sig = entry["sig"]?.stringValue else {
                throw TUFError(.malformed, "\(role): each signature needs string keyid and sig")
            }
            // TUF-CLIENT-CLI §8.1: two signatures with one key id reject the whole file.
            guard seen.insert(keyid).inserted else {
                throw TUFError(.malformed, "\(role): key id \(keyid) signs more than once")
            }
            signatures.append(Signature(keyid: keyid, sig: sig))
        }
        // The type check comes first so a wrong _type reads as such, not as a shape error.
        if let type = signed["_type"]?.stringValue, type != Role.type {
            throw TUFError(.wrongType, "\(role): signed._type is \"\(type)\", expected \"\(Role.type)\"")
        }
        self.signatures = signatures
        self.source = source
        if case .tree = source, let name = Role.rawMember, let value = signed[name] {
            // Built from a tree: hand the role its member as bytes, like a parsed file.
            var withoutRaw = signed
            withoutRaw[name] = nil
            let bytes = JSONWriter.compact(value)
            self.signed = try Role(signed: withoutRaw, raw: RawValue(bytes: bytes, range: 0..<bytes.count), role: role)
        } else {
            self.signed = try Role(signed: signed, raw: raw, role: role)
        }
    }

    /// The canonical JSON of `signed`, which is what each signature signs. When the received
    /// bytes already are canonical (python-tuf and Otter write them so), the payload is that
    /// slice of the file, not a copy.
    public func payload() throws(TUFError) -> Payload {
        switch source {
        case .tree(let object):
            let bytes = JSONWriter.canonical(.object(object))
            return Payload(bytes: bytes, range: 0..<bytes.count)
        case .raw(let bytes, let range):
            if RawJSON.isCanonical(bytes, in: range) { return Payload(bytes: bytes, range: range) }
            do {
                let canonical = try RawJSON.canonical(bytes, in: range)
                return Payload(bytes: canonical, range: 0..<canonical.count)
            } catch {
                throw TUFError(.malformed, "signed object: \(error)")
            }
        }
    }

    /// Checks that at least `threshold` distinct key ids of `keyids` have a valid signature here,
    /// with keys taken from `keys` (the delegator's). `payload` is `payload()`, passed in so a
    /// caller verifying twice (root rotation) computes it once.
    public func verify(_ delegation: RoleKeys, keys: [String: TUFKey], payload: Payload, role: String,
                       by delegator: String) throws(TUFError) {
        var valid = 0
        var byKeyID: [String: String] = [:]
        for signature in signatures { byKeyID[signature.keyid] = signature.sig }
        for keyid in delegation.keyids {
            guard let key = keys[keyid], let sig = byKeyID[keyid], !sig.isEmpty,
                  let raw = Hex.decodeStrict(sig) else { continue }
            if payload.withBytes({ key.verifies(raw, overBytes: $0) }) { valid += 1 }
        }
        guard valid >= delegation.threshold else {
            throw TUFError(.unsignedThreshold,
                           "\(role): \(valid) valid signature(s) from the keys \(delegator) trusts, threshold is \(delegation.threshold)")
        }
    }
}

import OtterCrypto

extension Hex {
    /// Hex of even length; either case.
    static func decodeStrict(_ text: String) -> [UInt8]? { decode(text) }
}

/// A role's key ids and threshold, as a delegator (root or a targets role) states them.
public struct RoleKeys: Sendable, Equatable {
    public let keyids: [String]
    public let threshold: Int

    public init(keyids: [String], threshold: Int) {
        self.keyids = keyids
        self.threshold = threshold
    }

    init(json: JSONObject, context: String) throws(TUFError) {
        guard let list = json["keyids"]?.arrayValue else {
            throw TUFError(.malformed, "\(context): keyids must be an array")
        }
        var keyids: [String] = []
        var seen = Set<String>()
        for item in list {
            guard let id = item.stringValue else { throw TUFError(.malformed, "\(context): key ids must be strings") }
            guard seen.insert(id).inserted else {
                throw TUFError(.malformed, "\(context): key id \(id) is listed twice")
            }
            keyids.append(id)
        }
        guard let threshold = json["threshold"]?.integerValue, threshold >= 1, threshold <= Int64(Int32.max) else {
            throw TUFError(.malformed, "\(context): threshold must be an integer of at least 1")
        }
        self.keyids = keyids
        self.threshold = Int(threshold)
    }
}

func parseKeys(_ json: JSON?, context: String) throws(TUFError) -> [String: TUFKey] {
    guard let object = json?.objectValue else { throw TUFError(.malformed, "\(context): keys must be an object") }
    var keys: [String: TUFKey] = [:]
    for member in object {
        guard let keyJSON = member.value.objectValue else {
            throw TUFError(.malformed, "\(context): key \(member.key) is not an object")
        }
        keys[member.key] = try TUFKey(json: keyJSON, context: context)
    }
    return keys
}
