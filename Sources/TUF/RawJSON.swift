/// Work on JSON text without building a tree, for metadata too large to hold twice (a targets
/// file with 10,000 entries): split an object into its members' byte ranges, and write the
/// canonical form of a range straight from the received bytes.
///
/// Neither function is a validator on its own: `Metadata` parses every range it splits off with
/// the strict `JSONParser` before it trusts anything, and both functions refuse what they
/// cannot follow.
enum RawJSON {
    struct Member {
        let key: String
        let range: Range<Int>
    }

    /// The members of the object that fills `range` (surrounding whitespace allowed), in
    /// document order; duplicate keys are refused.
    static func members(of bytes: [UInt8], in range: Range<Int>, maxDepth: Int = 64) throws(JSONError) -> [Member] {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONError) -> [Member] in
            var scanner = Scanner(bytes: buffer, index: range.lowerBound, end: range.upperBound, maxDepth: maxDepth)
            scanner.skipWhitespace()
            guard scanner.peek == UInt8(ascii: "{") else { throw scanner.error("expected an object") }
            scanner.index += 1
            var members: [Member] = []
            scanner.skipWhitespace()
            if scanner.peek == UInt8(ascii: "}") {
                scanner.index += 1
            } else {
                while true {
                    scanner.skipWhitespace()
                    guard scanner.peek == UInt8(ascii: "\"") else { throw scanner.error("expected a string key") }
                    let keyStart = scanner.index
                    try scanner.skipString()
                    let key: String
                    do throws(JSONError) {
                        key = try JSONParser().parse(Array(buffer[keyStart..<scanner.index])).stringValue ?? ""
                    } catch { throw JSONError(error.message, offset: keyStart + error.offset) }
                    scanner.skipWhitespace()
                    guard scanner.peek == UInt8(ascii: ":") else { throw scanner.error("expected :") }
                    scanner.index += 1
                    scanner.skipWhitespace()
                    let valueStart = scanner.index
                    try scanner.skipValue(depth: 1)
                    members.append(Member(key: key, range: valueStart..<scanner.index))
                    scanner.skipWhitespace()
                    if scanner.peek == UInt8(ascii: ",") { scanner.index += 1; continue }
                    if scanner.peek == UInt8(ascii: "}") { scanner.index += 1; break }
                    throw scanner.error("expected , or } in object")
                }
            }
            scanner.skipWhitespace()
            guard scanner.index == range.upperBound else { throw scanner.error("unexpected data after the object") }
            let sorted = members.map(\.key).sorted(by: utf8Less)
            for i in sorted.indices.dropFirst() where utf8Compare(sorted[i - 1], sorted[i]) == 0 {
                throw JSONError("duplicate key \(sorted[i].debugDescription) in object", offset: range.lowerBound)
            }
            return members
        }
    }

    /// Whether the bytes in `range` already are the canonical form of their value: no
    /// whitespace, no escapes but `\\` and `\"`, no `-0`, object keys strictly increasing.
    static func isCanonical(_ bytes: [UInt8], in range: Range<Int>) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            var checker = CanonicalChecker(bytes: buffer, index: range.lowerBound, end: range.upperBound)
            return checker.value(depth: 0) && checker.index == range.upperBound
        }
    }

    /// The canonical JSON (see `JSONWriter.canonical`) of the value in `range`.
    static func canonical(_ bytes: [UInt8], in range: Range<Int>, maxDepth: Int = 64) throws(JSONError) -> [UInt8] {
        try bytes.withUnsafeBufferPointer { (buffer) throws(JSONError) -> [UInt8] in
            var scanner = Scanner(bytes: buffer, index: range.lowerBound, end: range.upperBound, maxDepth: maxDepth)
            var out: [UInt8] = []
            out.reserveCapacity(canonicalSizeBound(buffer, range))
            scanner.skipWhitespace()
            try scanner.emitValue(into: &out, depth: 0)
            scanner.skipWhitespace()
            guard scanner.index == range.upperBound else { throw scanner.error("unexpected data after the value") }
            return out
        }
    }
}

private struct Scanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index: Int
    let end: Int
    let maxDepth: Int
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, index: Int, end: Int, maxDepth: Int) {
        self.bytes = bytes
        self.index = index
        self.end = end
        self.maxDepth = maxDepth
    }

    var peek: UInt8? { index < end ? bytes[index] : nil }

    func error(_ message: String) -> JSONError { JSONError(message, offset: index) }

    @inline(__always) mutating func skipWhitespace() {
        while index < end {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Moves past a string token (index at its opening quote).
    mutating func skipString() throws(JSONError) {
        index += 1
        while index < end {
            switch bytes[index] {
            case UInt8(ascii: "\""): index += 1; return
            case UInt8(ascii: "\\"): index += 2
            default: index += 1
            }
        }
        throw error("unterminated string")
    }

    mutating func skipValue(depth: Int) throws(JSONError) {
        guard let c = peek else { throw error("unexpected end of document") }
        switch c {
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
            var stack: [UInt8] = [c]
            index += 1
            while let top = stack.last {
                guard let b = peek else { throw error("unterminated \(top == UInt8(ascii: "{") ? "object" : "array")") }
                switch b {
                case UInt8(ascii: "\""): try skipString(); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    stack.append(b)
                    guard depth + stack.count - 1 <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
                case UInt8(ascii: "}"):
                    guard top == UInt8(ascii: "{") else { throw error("mismatched }") }
                    stack.removeLast()
                case UInt8(ascii: "]"):
                    guard top == UInt8(ascii: "[") else { throw error("mismatched ]") }
                    stack.removeLast()
                default: break
                }
                index += 1
            }
        default:
            // A number or literal: up to the next delimiter.
            let start = index
            while index < end {
                switch bytes[index] {
                case UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D: break
                default: index += 1; continue
                }
                break
            }
            guard index > start else { throw error("unexpected character") }
        }
    }

    mutating func emitValue(into out: inout [UInt8], depth: Int) throws(JSONError) {
        guard let c = peek else { throw error("unexpected end of document") }
        switch c {
        case UInt8(ascii: "\""): try emitString(into: &out)
        case UInt8(ascii: "{"): try emitObject(into: &out, depth: depth + 1)
        case UInt8(ascii: "["):
            guard depth + 1 <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
            index += 1
            out.append(UInt8(ascii: "["))
            skipWhitespace()
            if peek == UInt8(ascii: "]") {
                index += 1
            } else {
                while true {
                    skipWhitespace()
                    try emitValue(into: &out, depth: depth + 1)
                    skipWhitespace()
                    if peek == UInt8(ascii: ",") { index += 1; out.append(UInt8(ascii: ",")); continue }
                    if peek == UInt8(ascii: "]") { index += 1; break }
                    throw error("expected , or ] in array")
                }
            }
            out.append(UInt8(ascii: "]"))
        default:
            let start = index
            try skipValue(depth: depth)
            let token = UnsafeBufferPointer(rebasing: bytes[start..<index])
            let isNumber = token[0] == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(token[0])
            for b in token where isNumber && (b == UInt8(ascii: ".") || b == UInt8(ascii: "e") || b == UInt8(ascii: "E")) {
                throw JSONError("floating-point numbers are not allowed in TUF metadata", offset: start)
            }
            if token.count == 2, token[0] == UInt8(ascii: "-"), token[1] == UInt8(ascii: "0") {
                out.append(UInt8(ascii: "0"))  // -0 is the integer 0
            } else {
                out.append(contentsOf: token)
            }
        }
    }

    /// Writes a string in canonical form: content decoded, then only `\` and `"` escaped.
    mutating func emitString(into out: inout [UInt8]) throws(JSONError) {
        let start = index
        try skipString()
        let body = UnsafeBufferPointer(rebasing: bytes[(start + 1)..<(index - 1)])
        if !body.contains(UInt8(ascii: "\\")) {
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: body)
            out.append(UInt8(ascii: "\""))
            return
        }
        let decoded: String
        do throws(JSONError) {
            decoded = try JSONParser().parse(Array(UnsafeBufferPointer(rebasing: bytes[start..<index]))).stringValue ?? ""
        } catch { throw JSONError(error.message, offset: start + error.offset) }
        JSONWriter.writeString(decoded, into: &out, strict: false)
    }

    mutating func emitObject(into out: inout [UInt8], depth: Int) throws(JSONError) {
        guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
        let objectStart = out.count
        index += 1
        out.append(UInt8(ascii: "{"))
        // Output ranges of each member ("key":value) and of its key, to reorder if needed.
        var members: [(member: Range<Int>, key: Range<Int>)] = []
        var sorted = true
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            out.append(UInt8(ascii: "}"))
            return
        }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw error("expected a string key") }
            if !members.isEmpty { out.append(UInt8(ascii: ",")) }
            let memberStart = out.count
            try emitString(into: &out)
            let key = memberStart..<out.count
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw error("expected :") }
            index += 1
            out.append(UInt8(ascii: ":"))
            skipWhitespace()
            try emitValue(into: &out, depth: depth)
            if let last = members.last {
                let order = compareCanonicalKeys(out, last.key, key)
                if order == 0 { throw error("duplicate key in object") }
                if order > 0 { sorted = false }
            }
            members.append((memberStart..<out.count, key))
            skipWhitespace()
            if peek == UInt8(ascii: ",") { index += 1; continue }
            if peek == UInt8(ascii: "}") { index += 1; break }
            throw error("expected , or } in object")
        }
        if !sorted {
            // Rare (our writers and python-tuf's sort keys): rebuild the members in key order.
            let snapshot = out
            members.sort { compareCanonicalKeys(snapshot, $0.key, $1.key) < 0 }
            for i in members.indices.dropFirst() where compareCanonicalKeys(snapshot, members[i - 1].key, members[i].key) == 0 {
                throw error("duplicate key in object")
            }
            out.removeSubrange((objectStart + 1)...)
            for (i, m) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: snapshot[m.member])
            }
        }
        out.append(UInt8(ascii: "}"))
    }
}

/// Compares two canonical key strings (quotes included) by their decoded bytes, which is code
/// point order. Canonical strings only escape `\` and `"`, so decoding is dropping each escape.
private func compareCanonicalKeys(_ out: [UInt8], _ a: Range<Int>, _ b: Range<Int>) -> Int {
    var i = a.lowerBound + 1, j = b.lowerBound + 1
    let aEnd = a.upperBound - 1, bEnd = b.upperBound - 1
    while i < aEnd, j < bEnd {
        if out[i] == 0x5C { i += 1 }
        if out[j] == 0x5C { j += 1 }
        if out[i] != out[j] { return Int(out[i]) - Int(out[j]) }
        i += 1
        j += 1
    }
    return (i < aEnd ? 1 : 0) - (j < bEnd ? 1 : 0)
}

/// An upper bound of the canonical size: the bytes outside whitespace between tokens (escapes
/// only shrink when decoded, reordering keeps the size). Reserving it avoids both regrowth and
/// holding twice the memory a pretty-printed 10 MB file would suggest.
private func canonicalSizeBound(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
    var count = 0
    var inString = false
    var i = range.lowerBound
    while i < range.upperBound {
        let c = bytes[i]
        if inString {
            if c == UInt8(ascii: "\\") {
                count += 1
                i += 1
            } else if c == UInt8(ascii: "\"") {
                inString = false
            }
            count += 1
        } else if c == UInt8(ascii: "\"") {
            inString = true
            count += 1
        } else if c != 0x20, c != 0x0A, c != 0x0D, c != 0x09 {
            count += 1
        }
        i += 1
    }
    return count
}

private struct CanonicalChecker {
    let bytes: UnsafeBufferPointer<UInt8>
    var index: Int
    let end: Int

    mutating func value(depth: Int) -> Bool {
        guard index < end, depth <= 64 else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "["):
            index += 1
            if index < end, bytes[index] == UInt8(ascii: "]") { index += 1; return true }
            while true {
                guard value(depth: depth + 1), index < end else { return false }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return true }
                return false
            }
        case UInt8(ascii: "{"):
            index += 1
            if index < end, bytes[index] == UInt8(ascii: "}") { index += 1; return true }
            var previous: Range<Int>?
            while true {
                guard index < end, bytes[index] == UInt8(ascii: "\""), let key = string() else { return false }
                if let previous, compareKeys(previous, key) >= 0 { return false }
                previous = key
                guard index < end, bytes[index] == UInt8(ascii: ":") else { return false }
                index += 1
                guard value(depth: depth + 1), index < end else { return false }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return true }
                return false
            }
        default:
            let start = index
            while index < end {
                let c = bytes[index]
                if c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") { break }
                // Whitespace, or anything a number or literal cannot hold canonically.
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-")
                        || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) else { return false }
                index += 1
            }
            let count = index - start
            if count == 0 { return false }
            if count == 2, bytes[start] == UInt8(ascii: "-"), bytes[start + 1] == UInt8(ascii: "0") { return false }
            return true
        }
    }

    /// Moves past a string whose only escapes are `\\` and `\"`; returns its range.
    mutating func string() -> Range<Int>? {
        let start = index
        index += 1
        while index < end {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") { index += 1; return start..<index }
            if c == UInt8(ascii: "\\") {
                guard index + 1 < end, bytes[index + 1] == UInt8(ascii: "\\") || bytes[index + 1] == UInt8(ascii: "\"") else { return nil }
                index += 2
                continue
            }
            index += 1
        }
        return nil
    }

    func compareKeys(_ a: Range<Int>, _ b: Range<Int>) -> Int {
        var i = a.lowerBound + 1, j = b.lowerBound + 1
        let aEnd = a.upperBound - 1, bEnd = b.upperBound - 1
        while i < aEnd, j < bEnd {
            if bytes[i] == 0x5C { i += 1 }
            if bytes[j] == 0x5C { j += 1 }
            if bytes[i] != bytes[j] { return Int(bytes[i]) - Int(bytes[j]) }
            i += 1
            j += 1
        }
        return (i < aEnd ? 1 : 0) - (j < bEnd ? 1 : 0)
    }
}
