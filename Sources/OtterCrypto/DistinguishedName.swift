import COpenSSL

/// An X.509 name as an ordered list of (short attribute name, value): `CN`, `O`, `OU`,
/// `businessCategory` (the production mark LmP factories put in device certificates)…
public struct DistinguishedName: Sendable, Equatable, CustomStringConvertible {
    public struct Attribute: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) { self.name = name; self.value = value }
    }

    public var attributes: [Attribute]

    public init(_ attributes: [Attribute]) { self.attributes = attributes }

    public init(commonName: String, organization: String? = nil, organizationalUnit: String? = nil,
                businessCategory: String? = nil) {
        var list: [Attribute] = []
        if let organization { list.append(Attribute("O", organization)) }
        if let organizationalUnit { list.append(Attribute("OU", organizationalUnit)) }
        if let businessCategory { list.append(Attribute("businessCategory", businessCategory)) }
        list.append(Attribute("CN", commonName))
        attributes = list
    }

    public subscript(name: String) -> String? { attributes.first { $0.name == name }?.value }
    public var commonName: String? { self["CN"] }

    public var description: String { attributes.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") }

    /// A new `X509_NAME` the caller frees.
    func make() throws -> OpaquePointer {
        guard let name = X509_NAME_new() else { throw CryptoError.openssl("X509_NAME_new") }
        for attribute in attributes {
            guard X509_NAME_add_entry_by_txt(name, attribute.name, copenssl_mbstring_utf8, attribute.value, -1, -1, 0) == 1 else {
                X509_NAME_free(name)
                throw CryptoError.openssl("name attribute \(attribute.name)=\(attribute.value)")
            }
        }
        return name
    }

    /// Reads a borrowed `X509_NAME`.
    init(reading name: OpaquePointer) {
        var list: [Attribute] = []
        for index in 0..<X509_NAME_entry_count(name) {
            guard let entry = X509_NAME_get_entry(name, index) else { continue }
            let nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry))
            let short = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "\(nid)"
            var utf8: UnsafeMutablePointer<UInt8>?
            let length = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry))
            guard length >= 0, let utf8 else { continue }
            list.append(Attribute(short, String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)))
            CRYPTO_free(utf8, #fileID, #line)
        }
        attributes = list
    }
}
