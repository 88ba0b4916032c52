/// A repository in a registry: where the distribution API paths are rooted
/// (`/v2/<name>/manifests/…`, distribution `docs/spec/api.md`).
public struct Repository: Hashable, Sendable, CustomStringConvertible {
    /// `host` or `host:port`, as written in references.
    public var registry: String
    /// Path components joined by `/`, lower case (`factory/shellhttpd`).
    public var name: String

    public init(registry: String, name: String) {
        self.registry = registry
        self.name = name
    }

    public var description: String { "\(registry)/\(name)" }
}

/// An image or app reference: `registry/repo@sha256:<hex>`, `registry/repo:tag`, or both
/// (`registry/repo:tag@sha256:<hex>`, where the digest wins). The first component is the registry
/// when it contains `.` or `:` or is `localhost` (the Docker rule); otherwise the registry is
/// `docker.io` and a one-component name gets the `library/` prefix.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    public var repository: Repository
    public var tag: String?
    public var digest: OCIDigest?

    public init(repository: Repository, tag: String? = nil, digest: OCIDigest? = nil) {
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    public static let defaultRegistry = "docker.io"

    public init(parsing text: some StringProtocol) throws(OCIError) {
        let string = String(text)
        func fail(_ reason: String) -> OCIError { .invalidReference(string, reason: reason) }
        guard !string.isEmpty, string.utf8.count <= 4096 else { throw fail("empty or too long") }
        var rest = Substring(string)
        if let at = rest.firstIndex(of: "@") {
            digest = try OCIDigest(parsing: rest[rest.index(after: at)...])
            rest = rest[..<at]
        }
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let tag = String(rest[rest.index(after: colon)...])
            guard Self.isValidTag(tag) else { throw fail("invalid tag \"\(tag)\"") }
            self.tag = tag
            rest = rest[..<colon]
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let registry: String
        if components.count > 1, components[0].contains(".") || components[0].contains(":") || components[0] == "localhost" {
            registry = components.removeFirst()
            guard Self.isValidHost(registry) else { throw fail("invalid registry host \"\(registry)\"") }
        } else {
            registry = Self.defaultRegistry
            if components.count == 1 { components.insert("library", at: 0) }
        }
        guard !components.isEmpty, components.allSatisfy(Self.isValidPathComponent) else {
            throw fail("repository path components must be lower-case letters and digits, separated by '.', '_', '__' or '-'")
        }
        repository = Repository(registry: registry, name: components.joined(separator: "/"))
        guard tag != nil || digest != nil else {
            throw fail("no tag or digest")
        }
    }

    /// The manifest reference used in the API path: the digest when there is one, else the tag.
    public var manifestReference: String {
        digest?.description ?? tag!
    }

    public var description: String {
        var text = repository.description
        if let tag { text += ":\(tag)" }
        if let digest { text += "@\(digest)" }
        return text
    }

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` (distribution `reference/regexp.go`).
    static func isValidTag(_ tag: String) -> Bool {
        let bytes = Array(tag.utf8)
        guard (1...128).contains(bytes.count) else { return false }
        func word(_ b: UInt8) -> Bool { isAlnum(b) || b == UInt8(ascii: "_") }
        return word(bytes[0]) && bytes.dropFirst().allSatisfy { word($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
    static func isValidPathComponent(_ component: String) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, isLowerAlnum(first), isLowerAlnum(last) else { return false }
        var i = 0
        while i < bytes.count {
            if isLowerAlnum(bytes[i]) { i += 1; continue }
            // A separator run: '.', '_', '__' or one or more '-'.
            var j = i
            while j < bytes.count, !isLowerAlnum(bytes[j]) { j += 1 }
            let separator = bytes[i..<j]
            let ok = separator.elementsEqual([UInt8(ascii: ".")]) || separator.elementsEqual([UInt8(ascii: "_")])
                || separator.elementsEqual([UInt8(ascii: "_"), UInt8(ascii: "_")])
                || separator.allSatisfy { $0 == UInt8(ascii: "-") }
            guard ok else { return false }
            i = j
        }
        return true
    }

    /// A host name or IPv4 address with an optional numeric port.
    static func isValidHost(_ host: String) -> Bool {
        var name = Substring(host)
        if let colon = host.lastIndex(of: ":") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isASCII), let value = Int(port), value > 0, value < 65536 else {
                return false
            }
            name = host[..<colon]
        }
        guard !name.isEmpty else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") }
                && label.utf8.first != UInt8(ascii: "-") && label.utf8.last != UInt8(ascii: "-")
        }
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x61...0x7a).contains(b)
    }

    private static func isAlnum(_ b: UInt8) -> Bool {
        isLowerAlnum(b) || (0x41...0x5a).contains(b)
    }
}
