/// A TOML value as Otter's configuration sees it.
enum ConfigurationValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    case array([ConfigurationValue])
    case table
    /// Dates and times: no Otter setting takes one.
    case other(String)

    /// The TOML type name used in error messages.
    var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .array: "array"
        case .table: "table"
        case let .other(name): name
        }
    }
}

/// Where and why a TOML text is malformed (line and column from 1).
struct TOMLSyntaxError: Error, Equatable, CustomStringConvertible {
    var line: Int
    var column: Int
    var message: String

    var description: String { "line \(line), column \(column): \(message)" }
}

/// Reads the TOML that configuration fragments are written in: `[table]` and `[dotted.table]`
/// headers, bare, quoted and dotted keys, basic and literal strings (one-line and multi-line,
/// with every escape), integers (decimal, hex, octal, binary, `_` separators), floats, booleans,
/// arrays, inline tables, and comments. Dates and times are recognized but kept as text
/// (no setting takes one); arrays of tables (`[[x]]`) are refused. A key set twice is an error,
/// as the TOML spec says.
struct TOMLReader {
    /// One `key = value`: its full key path (table header + key) and the line it is on.
    struct Assignment: Equatable {
        var path: [String]
        var value: ConfigurationValue
        var line: Int
    }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var table: [String] = []
    /// Key paths ("\u{0}"-joined) of the values and of the `[table]` headers so far, with their
    /// line, to refuse redefinitions.
    private var values: [String: Int] = [:]
    private var tables: [String: Int] = [:]
    private var assignments: [Assignment] = []

    private init(_ text: String) { bytes = Array(text.utf8) }

    /// The assignments of `text` in the order written.
    static func parse(_ text: String) throws(TOMLSyntaxError) -> [Assignment] {
        var reader = TOMLReader(text)
        try reader.document()
        return reader.assignments
    }

    // MARK: lines

    private mutating func document() throws(TOMLSyntaxError) {
        while true {
            skipWhitespace()
            guard let byte = peek() else { return }
            switch byte {
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"): try newline()
            case UInt8(ascii: "#"): try comment()
            case UInt8(ascii: "["): try header()
            default: try keyValue()
            }
        }
    }

    private mutating func header() throws(TOMLSyntaxError) {
        let headerLine = line
        index += 1
        if peek() == UInt8(ascii: "[") {
            throw error("arrays of tables ([[...]]) are not supported in Otter's configuration; use one [table] per section")
        }
        skipWhitespace()
        let path = try key()
        skipWhitespace()
        guard peek() == UInt8(ascii: "]") else { throw error("expected `]` to close the table header") }
        index += 1
        try endOfLine()
        let name = path.joined(separator: "\u{0}")
        if let first = tables[name] ?? values[name] {
            throw TOMLSyntaxError(line: headerLine, column: 1,
                                  message: "[\(path.joined(separator: "."))] is defined twice (first on line \(first))")
        }
        tables[name] = headerLine
        table = path
    }

    private mutating func keyValue() throws(TOMLSyntaxError) {
        let keyLine = line
        let path = table + (try key())
        skipWhitespace()
        guard peek() == UInt8(ascii: "=") else { throw error("expected `=` after the key \(path.joined(separator: "."))") }
        index += 1
        skipWhitespace()
        let value = try self.value()
        try endOfLine()
        let name = path.joined(separator: "\u{0}")
        if let first = values[name] ?? tables[name] {
            throw TOMLSyntaxError(line: keyLine, column: 1,
                                  message: "\(path.joined(separator: ".")) is defined twice (first on line \(first))")
        }
        values[name] = keyLine
        assignments.append(Assignment(path: path, value: value, line: keyLine))
    }

    /// After a value or header: spaces, then a comment or the end of the line.
    private mutating func endOfLine() throws(TOMLSyntaxError) {
        skipWhitespace()
        guard let byte = peek() else { return }
        switch byte {
        case UInt8(ascii: "#"): try comment()
        case UInt8(ascii: "\n"), UInt8(ascii: "\r"): try newline()
        default: throw error("unexpected `\(Character(Unicode.Scalar(byte)))` after the value; one key = value per line")
        }
    }

    // MARK: keys

    /// A key: bare or quoted parts joined by dots.
    private mutating func key() throws(TOMLSyntaxError) -> [String] {
        var parts: [String] = []
        while true {
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "\""): parts.append(try basicString())
            case UInt8(ascii: "'"): parts.append(try literalString())
            default:
                let start = index
                while let byte = peek(), isBareKey(byte) { index += 1 }
                guard index > start else { throw error(parts.isEmpty ? "expected a key" : "expected a key after `.`") }
                parts.append(String(decoding: bytes[start..<index], as: UTF8.self))
            }
            skipWhitespace()
            guard peek() == UInt8(ascii: ".") else { return parts }
            index += 1
        }
    }

    private func isBareKey(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    // MARK: values

    private mutating func value() throws(TOMLSyntaxError) -> ConfigurationValue {
        guard let byte = peek(), byte != UInt8(ascii: "\n"), byte != UInt8(ascii: "\r"), byte != UInt8(ascii: "#") else {
            throw error("expected a value after `=`")
        }
        switch byte {
        case UInt8(ascii: "\""): return .string(try basicString())
        case UInt8(ascii: "'"): return .string(try literalString())
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "{"): return try inlineTable()
        default: return try scalar()
        }
    }

    private mutating func array() throws(TOMLSyntaxError) -> ConfigurationValue {
        index += 1
        var items: [ConfigurationValue] = []
        while true {
            try skipBlankAndComments()
            if peek() == UInt8(ascii: "]") { index += 1; return .array(items) }
            items.append(try value())
            try skipBlankAndComments()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return .array(items)
            default: throw error("expected `,` or `]` in the array")
            }
        }
    }

    /// `{ a = 1, b = "x" }` on one line; its contents are checked, not kept (no setting is a table).
    private mutating func inlineTable() throws(TOMLSyntaxError) -> ConfigurationValue {
        index += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { index += 1; return .table }
        while true {
            _ = try key()
            skipWhitespace()
            guard peek() == UInt8(ascii: "=") else { throw error("expected `=` in the inline table") }
            index += 1
            skipWhitespace()
            _ = try value()
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1; skipWhitespace()
            case UInt8(ascii: "}"): index += 1; return .table
            default: throw error("expected `,` or `}` in the inline table (it must fit on one line)")
            }
        }
    }

    /// Booleans, numbers, dates: everything up to a delimiter.
    private mutating func scalar() throws(TOMLSyntaxError) -> ConfigurationValue {
        let start = index
        let column = index - lineStart + 1
        while let byte = peek(), !isDelimiter(byte) { index += 1 }
        // A date and a time may be separated by one space: `1979-05-27 07:32:00`.
        if peek() == UInt8(ascii: " "), index + 1 < bytes.count, isDigit(bytes[index + 1]),
           bytes[start..<index].contains(UInt8(ascii: "-")), !bytes[start..<index].contains(UInt8(ascii: ":")) {
            index += 1
            while let byte = peek(), !isDelimiter(byte) { index += 1 }
        }
        let token = String(decoding: bytes[start..<index], as: UTF8.self)
        if let value = Self.scalarValue(token) { return value }
        throw TOMLSyntaxError(line: line, column: column,
                              message: "`\(token)` is not a TOML value (strings need quotes: \"\(token)\")")
    }

    private func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
             UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "#"): true
        default: false
        }
    }

    private func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    static func scalarValue(_ token: String) -> ConfigurationValue? {
        switch token {
        case "true": return .boolean(true)
        case "false": return .boolean(false)
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        if let integer = integer(token) { return .integer(integer) }
        if let float = float(token) { return .float(float) }
        if isDateOrTime(token) { return .other(token.contains("-") ? "date" : "time") }
        return nil
    }

    /// Underscores only between digits.
    private static func withoutSeparators(_ digits: Substring) -> Substring? {
        guard !digits.isEmpty, digits.first != "_", digits.last != "_", !digits.contains("__") else { return nil }
        return Substring(digits.filter { $0 != "_" })
    }

    private static func integer(_ token: String) -> Int? {
        let radixes: [(String, Int)] = [("0x", 16), ("0o", 8), ("0b", 2)]
        for (prefix, radix) in radixes where token.hasPrefix(prefix) {
            return withoutSeparators(token.dropFirst(2)).flatMap { Int($0, radix: radix) }
        }
        var digits = Substring(token)
        var sign = ""
        if let first = digits.first, first == "+" || first == "-" { sign = first == "-" ? "-" : ""; digits = digits.dropFirst() }
        guard let plain = withoutSeparators(digits), plain.allSatisfy(\.isASCII), plain.allSatisfy(\.isNumber),
              plain == "0" || plain.first != "0" else { return nil }
        return Int(sign + plain)
    }

    private static func float(_ token: String) -> Double? {
        var body = Substring(token)
        if let first = body.first, first == "+" || first == "-" { body = body.dropFirst() }
        // Digits on both sides of the point, an exponent, or both: `1.5`, `1e3`, `6.02e+23`.
        guard let plain = withoutSeparators(body), plain.first?.isNumber == true else { return nil }
        let mantissa = plain.split(separator: "e", maxSplits: 1, omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: "E", maxSplits: 1, omittingEmptySubsequences: false) }
        guard plain.contains(".") || mantissa.count == 2 else { return nil }
        if let point = plain.firstIndex(of: ".") {
            let after = plain[plain.index(after: point)...]
            guard after.first?.isNumber == true else { return nil }
        }
        guard plain.allSatisfy({ $0.isNumber || "eE+-.".contains($0) }) else { return nil }
        return Double(token.filter { $0 != "_" })
    }

    private static func isDateOrTime(_ token: String) -> Bool {
        let scalars = token.unicodeScalars
        guard scalars.first.map({ ("0"..."9").contains($0) }) == true else { return false }
        let isDate = scalars.count >= 10 && scalars.dropFirst(4).first == "-"
        let isTime = scalars.count >= 8 && scalars.dropFirst(2).first == ":"
        return (isDate || isTime) && scalars.allSatisfy { "0123456789-:.TtZz+ ".unicodeScalars.contains($0) }
    }

    // MARK: strings

    private mutating func basicString() throws(TOMLSyntaxError) -> String {
        if starts(with: "\"\"\"") { return try multiLineString(quote: UInt8(ascii: "\""), escapes: true) }
        index += 1
        var result: [UInt8] = []
        while true {
            guard let byte = peek(), byte != UInt8(ascii: "\n") else { throw error("the string is not closed on its line (missing `\"`)") }
            index += 1
            switch byte {
            case UInt8(ascii: "\""): return String(decoding: result, as: UTF8.self)
            case UInt8(ascii: "\\"): result += try escape()
            default: result.append(byte)
            }
        }
    }

    private mutating func literalString() throws(TOMLSyntaxError) -> String {
        if starts(with: "'''") { return try multiLineString(quote: UInt8(ascii: "'"), escapes: false) }
        index += 1
        let start = index
        while let byte = peek(), byte != UInt8(ascii: "'") {
            guard byte != UInt8(ascii: "\n") else { throw error("the string is not closed on its line (missing `'`)") }
            index += 1
        }
        guard peek() != nil else { throw error("the string is not closed (missing `'`)") }
        defer { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// `"""…"""` or `'''…'''`: a newline right after the opening quotes is dropped; in basic ones
    /// a `\` at the end of a line joins it to the next non-blank text.
    private mutating func multiLineString(quote: UInt8, escapes: Bool) throws(TOMLSyntaxError) -> String {
        let openLine = line
        index += 3
        if peek() == UInt8(ascii: "\r") { index += 1 }
        if peek() == UInt8(ascii: "\n") { try newline() }
        var result: [UInt8] = []
        while true {
            guard let byte = peek() else {
                throw TOMLSyntaxError(line: openLine, column: 1, message: "the multi-line string is not closed")
            }
            if byte == quote {
                var run = 0
                while peek() == quote { run += 1; index += 1 }
                guard run >= 3 else { result += Array(repeating: quote, count: run); continue }
                // Up to two quotes right before the closing three belong to the string.
                guard run <= 5 else { throw error("too many quotes closing the multi-line string") }
                result += Array(repeating: quote, count: run - 3)
                return String(decoding: result, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\n") { result.append(byte); try newline(); continue }
            index += 1
            if escapes, byte == UInt8(ascii: "\\") {
                if let next = peek(), next == UInt8(ascii: " ") || next == UInt8(ascii: "\t") || next == UInt8(ascii: "\n") || next == UInt8(ascii: "\r") {
                    try skipBlankAndComments(comments: false)
                    continue
                }
                result += try escape()
                continue
            }
            result.append(byte)
        }
    }

    /// After a `\` in a basic string.
    private mutating func escape() throws(TOMLSyntaxError) -> [UInt8] {
        guard let byte = peek() else { throw error("the string ends in the middle of an escape") }
        index += 1
        switch byte {
        case UInt8(ascii: "b"): return [0x08]
        case UInt8(ascii: "t"): return [0x09]
        case UInt8(ascii: "n"): return [0x0A]
        case UInt8(ascii: "f"): return [0x0C]
        case UInt8(ascii: "r"): return [0x0D]
        case UInt8(ascii: "e"): return [0x1B]
        case UInt8(ascii: "\""): return [UInt8(ascii: "\"")]
        case UInt8(ascii: "\\"): return [UInt8(ascii: "\\")]
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let count = byte == UInt8(ascii: "u") ? 4 : 8
            guard bytes.count - index >= count,
                  let code = UInt32(String(decoding: bytes[index..<index + count], as: UTF8.self), radix: 16),
                  let scalar = Unicode.Scalar(code) else {
                throw error("\\\(Character(Unicode.Scalar(byte))) needs \(count) hex digits of a Unicode scalar value")
            }
            index += count
            return Array(String(Character(scalar)).utf8)
        default:
            index -= 1
            throw error("unknown escape `\\\(Character(Unicode.Scalar(byte)))` (write `\\\\` for a backslash, or use a 'literal string')")
        }
    }

    // MARK: whitespace, comments, positions

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func starts(with prefix: String) -> Bool {
        let prefix = Array(prefix.utf8)
        return bytes.count - index >= prefix.count && Array(bytes[index..<index + prefix.count]) == prefix
    }

    private mutating func skipWhitespace() {
        while let byte = peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { index += 1 }
    }

    /// Inside arrays: spaces, newlines and (unless `comments` is false) comments.
    private mutating func skipBlankAndComments(comments: Bool = true) throws(TOMLSyntaxError) {
        while let byte = peek() {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"): index += 1
            case UInt8(ascii: "\n"), UInt8(ascii: "\r"): try newline()
            case UInt8(ascii: "#") where comments: try comment()
            default: return
            }
        }
    }

    private mutating func comment() throws(TOMLSyntaxError) {
        while let byte = peek(), byte != UInt8(ascii: "\n"), byte != UInt8(ascii: "\r") {
            guard byte == UInt8(ascii: "\t") || byte >= 0x20 && byte != 0x7F else {
                throw error("control character \(byte) in a comment")
            }
            index += 1
        }
    }

    private mutating func newline() throws(TOMLSyntaxError) {
        if peek() == UInt8(ascii: "\r") {
            index += 1
            guard peek() == UInt8(ascii: "\n") else { throw error("a carriage return not followed by a newline") }
        }
        index += 1
        line += 1
        lineStart = index
    }

    private func error(_ message: String) -> TOMLSyntaxError {
        TOMLSyntaxError(line: line, column: index - lineStart + 1, message: message)
    }
}
