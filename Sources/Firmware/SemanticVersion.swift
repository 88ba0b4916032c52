/// A firmware version from a repository tag: Semantic Versioning 2.0.0 with an optional leading
/// `v` (`0.1.2`, `v1.6.2`, `1.0.0-rc.1+build.5`). Ordered by semver §11: numeric core, then a
/// pre-release sorts before its release, identifiers compare numerically when both are numeric,
/// numeric before alphanumeric, shorter before longer; build metadata never counts.
public struct SemanticVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var major: UInt64
    public var minor: UInt64
    public var patch: UInt64
    public var preRelease: [String]
    public var build: [String]
    /// The tag as written in the registry (with its `v`, if any).
    public var tag: String

    public var isPreRelease: Bool { !preRelease.isEmpty }
    public var description: String { tag }

    /// nil for tags that are not versions (`latest`, cosign's `sha256-….sig`).
    public init?(tag: String) {
        var text = Substring(tag)
        if text.first == "v" { text = text.dropFirst() }
        var build: [String] = []
        if let plus = text.firstIndex(of: "+") {
            build = text[text.index(after: plus)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard build.allSatisfy({ !$0.isEmpty && $0.allSatisfy(Self.isIdentifierCharacter) }) else { return nil }
            text = text[..<plus]
        }
        var preRelease: [String] = []
        if let dash = text.firstIndex(of: "-") {
            preRelease = text[text.index(after: dash)...].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard preRelease.allSatisfy({ !$0.isEmpty && $0.allSatisfy(Self.isIdentifierCharacter)
                                          && !(Self.isNumeric($0) && $0.count > 1 && $0.first == "0") }) else { return nil }
            text = text[..<dash]
        }
        let core = text.split(separator: ".", omittingEmptySubsequences: false)
        guard core.count == 3 else { return nil }
        var numbers: [UInt64] = []
        for part in core {
            guard Self.isNumeric(part), part == "0" || part.first != "0", let number = UInt64(part) else { return nil }
            numbers.append(number)
        }
        (major, minor, patch) = (numbers[0], numbers[1], numbers[2])
        self.preRelease = preRelease
        self.build = build
        self.tag = tag
    }

    public static func < (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        if (lhs.major, lhs.minor, lhs.patch) != (rhs.major, rhs.minor, rhs.patch) {
            return (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
        }
        switch (lhs.preRelease.isEmpty, rhs.preRelease.isEmpty) {
        case (true, true), (true, false): return false
        case (false, true): return true
        case (false, false): break
        }
        for (a, b) in zip(lhs.preRelease, rhs.preRelease) where a != b {
            switch (UInt64(a), UInt64(b)) {
            case let (x?, y?): return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return a < b  // ASCII order
            }
        }
        return lhs.preRelease.count < rhs.preRelease.count
    }

    /// Precedence only: `v1.0.0` and `1.0.0+b7` equal `1.0.0` (semver §10).
    public static func == (lhs: SemanticVersion, rhs: SemanticVersion) -> Bool {
        !(lhs < rhs) && !(rhs < lhs)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(major); hasher.combine(minor); hasher.combine(patch); hasher.combine(preRelease)
    }

    /// The newest version among `tags`; pre-releases only when `includingPreReleases`. Of tags
    /// with equal precedence (`1.0.0`, `v1.0.0`) the one that sorts last as text wins, so the
    /// choice does not depend on the registry's listing order.
    public static func newest(in tags: [String], includingPreReleases: Bool = false) -> SemanticVersion? {
        tags.compactMap(SemanticVersion.init(tag:))
            .filter { includingPreReleases || !$0.isPreRelease }
            .max { $0 < $1 || ($0 == $1 && $0.tag < $1.tag) }
    }

    private static func isIdentifierCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "-")
    }

    private static func isNumeric(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
