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

/// What a role's `signed` object parses into.
public protocol SignedRole: Sendable {
    static var type: String { get }
    var common: CommonFields { get }
    init(signed: JSONObject, role: String) throws(TUFError)
}

extension SignedRole {
    public var version: Int64 { common.version }
    public var expires: Timestamp { common.expires }
    public func isExpired(at now: Timestamp) -> Bool { now >= common.expires }
}

/// A metadata file: the `signatures` and the parsed `signed` object, plus that object exactly as
/// received, whose canonical form is the signed payload.
public struct Metadata<Role: SignedRole>: Sendable {
    public let signatures: [Signature]
    public let signed: Role
    public let signedJSON: JSONObject

    /// Parses `bytes` as metadata of `Role`. `role` names the file in errors.
    public static func parse(_ bytes: [UInt8], role: String, parser: JSONParser = JSONParser()) throws(TUFError) -> Metadata {
        let json: JSON
        do { json = try parser.parse(bytes) } catch { throw TUFError(.malformed, "\(role): \(error)") }
        return try Metadata(json: json, role: role)
    }

    public init(json: JSON, role: String) throws(TUFError) {
        guard let top = json.objectValue else { throw TUFError(.malformed, "\(role): metadata is not a JSON object") }
        guard let signed = top["signed"]?.objectValue else {
            throw TUFError(.malformed, "\(role): metadata has no \"signed\" object")
        }
        guard let list = top["signatures"]?.arrayValue else {
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
        self.signedJSON = signed
        self.signed = try Role(signed: signed, role: role)
    }

    /// The canonical JSON of `signed`, which is what each signature signs.
    public func payload() -> [UInt8] { JSONWriter.canonical(.object(signedJSON)) }

    /// Checks that at least `threshold` distinct key ids of `keyids` have a valid signature here,
    /// with keys taken from `keys` (the delegator's). `payload` is `payload()`, passed in so a
    /// caller verifying twice (root rotation) computes it once.
    public func verify(_ delegation: RoleKeys, keys: [String: TUFKey], payload: [UInt8], role: String,
                       by delegator: String) throws(TUFError) {
        var valid = 0
        var byKeyID: [String: String] = [:]
        for signature in signatures { byKeyID[signature.keyid] = signature.sig }
        for keyid in delegation.keyids {
            guard let key = keys[keyid], let sig = byKeyID[keyid], !sig.isEmpty,
                  let raw = Hex.decodeStrict(sig) else { continue }
            if key.verifies(raw, over: payload) { valid += 1 }
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
