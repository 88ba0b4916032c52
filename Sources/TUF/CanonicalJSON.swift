/// Serialisation of `JSON` values.
///
/// `canonical` is the securesystemslib/OLPC canonical form that TUF signs: keys sorted by code
/// point, no whitespace, `,` and `:` separators, and in strings only `\` and `"` escaped (every
/// other character, control characters included, is written raw). `compact` is ordinary JSON
/// (control characters escaped as well) with the same key order, used to write files.
public enum JSONWriter {
    public static func canonical(_ value: JSON) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(value, into: &out, strict: false)
        return out
    }

    public static func compact(_ value: JSON) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(value, into: &out, strict: true)
        return out
    }

    static func write(_ value: JSON, into out: inout [UInt8], strict: Bool) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(true): out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .bool(false): out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        case .integer(let i): writeInteger(i, into: &out)
        case .string(let s): writeString(s, into: &out, strict: strict)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, into: &out, strict: strict)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            var first = true
            for member in object.members {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(member.key, into: &out, strict: strict)
                out.append(UInt8(ascii: ":"))
                write(member.value, into: &out, strict: strict)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func writeInteger(_ value: Int64, into out: inout [UInt8]) {
        if value == 0 { out.append(UInt8(ascii: "0")); return }
        var digits: [UInt8] = []
        var magnitude = value.magnitude
        while magnitude > 0 {
            digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        out.append(contentsOf: digits.reversed())
    }

    static func writeString(_ string: String, into out: inout [UInt8], strict: Bool) {
        out.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            var needsEscape = false
            for c in bytes where c == 0x22 || c == 0x5C || (strict && c < 0x20) {
                needsEscape = true
                break
            }
            if !needsEscape {
                out.append(contentsOf: bytes)
                return
            }
            for c in bytes {
                switch c {
                case 0x22: out.append(contentsOf: [0x5C, 0x22])
                case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
                case 0..<0x20 where strict:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                            hex[Int(c >> 4)], hex[Int(c & 0xF)]])
                default: out.append(c)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
