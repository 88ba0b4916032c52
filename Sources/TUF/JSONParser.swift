/// A strict JSON parser for TUF metadata (RFC 8259 plus the limits below).
///
/// Refused: floating-point numbers and exponents (TUF has integers only), integers outside
/// Int64, duplicate object keys, invalid UTF-8, lone surrogates, control characters in strings,
/// nesting deeper than `maxDepth`, documents longer than `maxBytes`, and trailing data.
public struct JSONParser {
    public var maxDepth: Int
    public var maxBytes: Int

    public init(maxDepth: Int = 64, maxBytes: Int = 256 << 20) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
    }

    public func parse(_ bytes: [UInt8]) throws(JSONError) -> JSON {
        guard bytes.count <= maxBytes else {
            throw JSONError("document is \(bytes.count) bytes, more than the limit of \(maxBytes)", offset: 0)
        }
        return try bytes.withUnsafeBufferPointer { (buffer) throws(JSONError) -> JSON in
            var reader = Reader(bytes: buffer, maxDepth: maxDepth)
            reader.skipWhitespace()
            let value = try reader.value(depth: 0)
            reader.skipWhitespace()
            guard reader.index == buffer.count else { throw reader.error("unexpected data after the JSON value") }
            return value
        }
    }
}

public struct JSONError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String
    public let offset: Int
    init(_ message: String, offset: Int) { self.message = message; self.offset = offset }
    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var index = 0
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    func error(_ message: String) -> JSONError { JSONError(message, offset: index) }

    @inline(__always) mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func value(depth: Int) throws(JSONError) -> JSON {
        guard index < bytes.count else { throw error("unexpected end of document") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .integer(try integer())
        default: throw error("unexpected character")
        }
    }

    mutating func literal(_ word: StaticString) throws(JSONError) {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw error("unexpected end of document") }
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: count)
        for i in 0..<count where bytes[index + i] != expected[i] { throw error("invalid literal") }
        index += count
    }

    mutating func integer() throws(JSONError) -> Int64 {
        let start = index
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        guard index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else {
            throw error("invalid number")
        }
        if bytes[index] == UInt8(ascii: "0"), index + 1 < bytes.count,
           (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index + 1]) {
            throw error("numbers may not have leading zeros")
        }
        // Accumulate negatively so Int64.min fits.
        var value: Int64 = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            let digit = Int64(bytes[index] - UInt8(ascii: "0"))
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.subtractingReportingOverflow(digit)
            guard !o1, !o2 else { index = start; throw error("integer out of range") }
            value = s
            index += 1
        }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
            throw error("floating-point numbers are not allowed in TUF metadata")
        }
        if negative { return value }
        guard value != Int64.min else { index = start; throw error("integer out of range") }
        return -value
    }

    mutating func string() throws(JSONError) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escapes, so the bytes are the content.
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                guard let s = String(validating: slice, as: UTF8.self) else {
                    index = start
                    throw error("string is not valid UTF-8")
                }
                return s
            }
            if c == UInt8(ascii: "\\") { break }
            guard c >= 0x20 else { throw error("control character in string") }
            index += 1
        }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                index += 1
                guard let s = String(validating: scratch, as: UTF8.self) else {
                    throw error("string is not valid UTF-8")
                }
                return s
            }
            guard c >= 0x20 else { throw error("control character in string") }
            if c != UInt8(ascii: "\\") {
                scratch.append(c)
                index += 1
                continue
            }
            index += 1
            guard index < bytes.count else { throw error("unterminated string") }
            let e = bytes[index]
            index += 1
            switch e {
            case UInt8(ascii: "\""): scratch.append(0x22)
            case UInt8(ascii: "\\"): scratch.append(0x5C)
            case UInt8(ascii: "/"): scratch.append(0x2F)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"),
                          bytes[index + 1] == UInt8(ascii: "u") else { throw error("lone surrogate in string") }
                    index += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate in string") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("lone surrogate in string")
                }
                guard let u = Unicode.Scalar(scalar) else { throw error("invalid escape") }
                scratch.append(contentsOf: UTF8.encode(u)!)
            default:
                throw error("invalid escape")
            }
        }
    }

    mutating func hex4() throws(JSONError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw error("unterminated escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            v = v << 4 | d
            index += 1
        }
        return v
    }

    mutating func array(depth: Int) throws(JSONError) -> JSON {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        index += 1
        var items: [JSON] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            items.append(try value(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw error("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
            throw error("expected , or ] in array")
        }
    }

    mutating func object(depth: Int) throws(JSONError) -> JSON {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        let start = index
        index += 1
        var members: [JSONObject.Member] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(JSONObject())
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a string key") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected :") }
            index += 1
            skipWhitespace()
            let value = try value(depth: depth)
            members.append(JSONObject.Member(key: key, value: value))
            skipWhitespace()
            guard index < bytes.count else { throw error("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            if bytes[index] == UInt8(ascii: "}") {
                index += 1
                guard let object = JSONObject(unsorted: members) else {
                    throw JSONError("duplicate key in object", offset: start)
                }
                return .object(object)
            }
            throw error("expected , or } in object")
        }
    }
}
