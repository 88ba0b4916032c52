/// A JSON value as TUF metadata needs it: integers, booleans and nulls stay distinct, there are
/// no floating-point numbers, and objects keep every member, known or not, so the canonical
/// form of a received `signed` object is exactly what its signer signed.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case integer(Int64)
    case string(String)
    case array([JSON])
    case object(JSONObject)

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var integerValue: Int64? { if case .integer(let i) = self { i } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: JSONObject? { if case .object(let o) = self { o } else { nil } }

    /// Member lookup when this is an object; nil otherwise.
    public subscript(key: String) -> JSON? {
        get { objectValue?[key] }
    }
}

/// A JSON object with unique keys, kept sorted by the UTF-8 bytes of the keys (which is code
/// point order), the order canonical JSON writes them in.
public struct JSONObject: Sendable, Equatable, Sequence {
    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: JSON
        public init(key: String, value: JSON) { self.key = key; self.value = value }
    }

    public private(set) var members: [Member]

    public init() { members = [] }

    /// Builds an object from members in any order; nil when two keys are equal.
    public init?(unsorted members: [Member]) {
        var sorted = members
        var inOrder = true
        for i in sorted.indices.dropFirst() where !utf8Less(sorted[i - 1].key, sorted[i].key) {
            inOrder = false
            break
        }
        if !inOrder {
            sorted.sort { utf8Less($0.key, $1.key) }
            for i in sorted.indices.dropFirst() where !utf8Less(sorted[i - 1].key, sorted[i].key) {
                return nil
            }
        }
        self.members = sorted
    }

    public init(_ pairs: KeyValuePairs<String, JSON>) {
        self.init()
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }

    public func makeIterator() -> IndexingIterator<[Member]> { members.makeIterator() }

    public subscript(key: String) -> JSON? {
        get {
            let (index, found) = search(key)
            return found ? members[index].value : nil
        }
        set {
            let (index, found) = search(key)
            switch (found, newValue) {
            case (true, let value?): members[index].value = value
            case (true, nil): members.remove(at: index)
            case (false, let value?): members.insert(Member(key: key, value: value), at: index)
            case (false, nil): break
            }
        }
    }

    private func search(_ key: String) -> (Int, Bool) {
        var low = 0
        var high = members.count
        while low < high {
            let mid = (low + high) / 2
            let order = utf8Compare(members[mid].key, key)
            if order == 0 { return (mid, true) }
            if order < 0 { low = mid + 1 } else { high = mid }
        }
        return (low, false)
    }
}

/// Code point order, which is the byte order of UTF-8. (Swift's own `<` on String compares
/// canonically-equivalent forms as equal, which is not what canonical JSON means.)
@inline(__always)
func utf8Less(_ a: String, _ b: String) -> Bool { utf8Compare(a, b) < 0 }

func utf8Compare(_ a: String, _ b: String) -> Int {
    var a = a
    var b = b
    return a.withUTF8 { x in
        b.withUTF8 { y in
            let n = min(x.count, y.count)
            if n > 0, let px = x.baseAddress, let py = y.baseAddress {
                let r = memcmp(px, py, n)
                if r != 0 { return Int(r) }
            }
            return x.count - y.count
        }
    }
}

@_silgen_name("memcmp")
private func memcmp(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Int32
