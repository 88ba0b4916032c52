import Testing
@testable import TUF

@Suite struct CanonicalJSONTests {
    func canonical(_ text: String) throws -> String {
        String(decoding: JSONWriter.canonical(try JSONParser().parse(bytes(text))), as: UTF8.self)
    }

    @Test func sortsKeysAndDropsWhitespace() throws {
        #expect(try canonical(#"{ "b" : 1, "a" : [ true , false , null ], "c": {"z": -3, "y": 0} }"#)
            == #"{"a":[true,false,null],"b":1,"c":{"y":0,"z":-3}}"#)
    }

    @Test func escapesOnlyBackslashAndQuote() throws {
        // The OLPC form writes control characters and non-ASCII raw.
        #expect(try canonical(#"{"s":"a\"b\\c\nd\u00e9\t\/"}"#) == "{\"s\":\"a\\\"b\\\\c\nd\u{e9}\t/\"}")
    }

    @Test func ordersKeysByCodePointNotUTF16() throws {
        // UTF-16 order would put U+1F600 (a surrogate pair) before U+FFFF.
        #expect(try canonical(#"{"\ud83d\ude00":1,"\uffff":2,"\u00e9":3,"z":4,"Z":5}"#)
            == "{\"Z\":5,\"z\":4,\"\u{e9}\":3,\"\u{ffff}\":2,\"\u{1F600}\":1}")
    }

    @Test func keepsCanonicallyEquivalentKeysApart() throws {
        // "é" precomposed and decomposed are equal Swift Strings but distinct JSON keys.
        #expect(try canonical(#"{"e\u0301":1,"\u00e9":2}"#) == "{\"e\u{301}\":1,\"\u{e9}\":2}")
    }

    @Test func matchesSecuresystemslibVector() throws {
        // A TUF key object as securesystemslib canonicalises it (the input of its key ids).
        let text = #"{"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "abc"}, "keyid_hash_algorithms": ["sha256", "sha512"]}"#
        #expect(try canonical(text)
            == #"{"keyid_hash_algorithms":["sha256","sha512"],"keytype":"ed25519","keyval":{"public":"abc"},"scheme":"ed25519"}"#)
    }

    @Test func integersKeepTheirExactValue() throws {
        #expect(try canonical("[9223372036854775807,-9223372036854775808,0,-0]")
            == "[9223372036854775807,-9223372036854775808,0,0]")
    }

    @Test func compactWriterEscapesControlCharacters() throws {
        let value = JSON.object(JSONObject(["s": .string("a\nb\u{1}\"")]))
        let text = String(decoding: JSONWriter.compact(value), as: UTF8.self)
        #expect(text == #"{"s":"a\u000ab\u0001\""}"#)
        #expect(try JSONParser().parse(bytes(text)) == value)
    }
}

@Suite struct JSONParserTests {
    func rejects(_ text: String) -> Bool {
        (try? JSONParser().parse(bytes(text))) == nil
    }

    @Test func keepsIntegersBooleansAndNullsDistinct() throws {
        let value = try JSONParser().parse(bytes(#"[1, true, 0, false, null]"#))
        #expect(value == .array([.integer(1), .bool(true), .integer(0), .bool(false), .null]))
    }

    @Test func refusesFloatsAndExponents() {
        #expect(rejects("1.0"))
        #expect(rejects("[1e3]"))
        #expect(rejects(#"{"version": 2E1}"#))
        #expect(rejects("-0.5"))
    }

    @Test func refusesDuplicateKeys() {
        #expect(rejects(#"{"a":1,"a":2}"#))
        #expect(rejects(#"{"b":{"x":1,"y":2,"x":3}}"#))
    }

    @Test func refusesIntegersOutsideInt64() {
        #expect(rejects("9223372036854775808"))
        #expect(rejects("-9223372036854775809"))
        #expect(rejects("123456789012345678901234567890"))
    }

    @Test func refusesMalformedDocuments() {
        for text in ["", "{", "[1,]", "{\"a\":1,}", "01", "tru", "[1] x", "\"\\x\"", "\"a\u{1}b\"",
                     "'a'", "{a:1}", "\u{FEFF}{}", "[1 2]"] {
            #expect(rejects(text), "\(text.debugDescription) should be refused")
        }
    }

    @Test func refusesInvalidUTF8AndLoneSurrogates() {
        #expect((try? JSONParser().parse([0x22, 0xC3, 0x28, 0x22])) == nil)
        #expect((try? JSONParser().parse([0x22, 0xED, 0xA0, 0x80, 0x22])) == nil)
        #expect(rejects(#""\ud800""#))
        #expect(rejects(#""\udc00x""#))
    }

    @Test func limitsDepthAndSize() throws {
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(rejects(deep))
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(!rejects(ok))
        #expect((try? JSONParser(maxBytes: 10).parse(bytes("[1,2,3,4,5,6]"))) == nil)
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        let value = try JSONParser().parse(bytes(#""\u00e9\ud83d\ude00\n\/""#))
        #expect(value == .string("\u{e9}\u{1F600}\n/"))
    }
}

@Suite struct ExpiryTests {
    @Test func parsesTheTUFForm() {
        #expect(Timestamp(tufExpires: "1970-01-01T00:00:00Z")?.secondsSinceEpoch == 0)
        #expect(Timestamp(tufExpires: "2030-01-01T00:00:00Z")?.secondsSinceEpoch == 1_893_456_000)
        #expect(Timestamp(tufExpires: "2024-02-29T23:59:59Z")?.secondsSinceEpoch == 1_709_251_199)
    }

    @Test func refusesOtherForms() {
        for text in ["2030-01-01T00:00:00", "2030-01-01 00:00:00Z", "2030-01-01T00:00:00.5Z", "2030-13-01T00:00:00Z",
                     "2023-02-29T00:00:00Z", "2030-01-01T24:00:00Z", "2030-01-01T00:00:00+00:00"] {
            #expect(Timestamp(tufExpires: text) == nil, "\(text)")
        }
    }

    @Test func roundTrips() {
        for seconds: Int64 in [0, 1_700_000_000, 4_102_444_799, 951_782_400] {
            let t = Timestamp(secondsSinceEpoch: seconds)
            #expect(Timestamp(tufExpires: t.tufExpires) == t)
        }
    }
}

@Suite struct PathPatternTests {
    @Test func matchesSegmentBySegment() {
        #expect(PathPattern.matches(pattern: "*.md", path: "README.md"))
        #expect(!PathPattern.matches(pattern: "*.md", path: "releases/README.md"))
        #expect(PathPattern.matches(pattern: "releases/*", path: "releases/y_v1.zip"))
        #expect(!PathPattern.matches(pattern: "releases/*", path: "releases/y/y_v1.zip"))
        #expect(PathPattern.matches(pattern: "foo-?.tgz", path: "foo-a.tgz"))
        #expect(!PathPattern.matches(pattern: "foo-?.tgz", path: "foo-alpha.tgz"))
        #expect(!PathPattern.matches(pattern: "*.md", path: "README.MD"))
        #expect(PathPattern.matches(pattern: "file[0-9].txt", path: "file3.txt"))
        #expect(!PathPattern.matches(pattern: "file[!0-9].txt", path: "file3.txt"))
        #expect(PathPattern.matches(pattern: "a*b*c", path: "aXXbYYbc"))
        #expect(PathPattern.matches(pattern: "*", path: ""))
        #expect(PathPattern.matches(pattern: "[abc", path: "[abc"))
    }
}

@Suite struct RawCanonicalJSONTests {
    static let vectors = [
        #"{ "b" : 1, "a" : [ true , false , null ], "c": {"z": -3, "y": 0} }"#,
        #"{"s":"a\"b\\c\nd\u00e9\t\/"}"#,
        #"{"\ud83d\ude00":1,"\uffff":2,"\u00e9":3,"z":4,"Z":5}"#,
        #"{"e\u0301":1,"\u00e9":2}"#,
        #"{"a\"b":1,"a":2,"a\\":3,"ab":4}"#,
        #"[9223372036854775807,-9223372036854775808,0,-0, {}, [], ""]"#,
        #"{"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": "abc"}, "keyid_hash_algorithms": ["sha256", "sha512"]}"#,
    ]

    /// The canonical form written straight from bytes equals the one written from the tree.
    @Test(arguments: vectors)
    func agreesWithTheTreeWriter(_ text: String) throws {
        let data = bytes(text)
        let raw = try RawJSON.canonical(data, in: 0..<data.count)
        #expect(String(decoding: raw, as: UTF8.self) == String(decoding: JSONWriter.canonical(try JSONParser().parse(data)), as: UTF8.self))
        // The canonical bytes are recognised as such (and used in place); the input is not.
        #expect(RawJSON.isCanonical(raw, in: 0..<raw.count))
        #expect(!RawJSON.isCanonical(data, in: 0..<data.count))
    }

    @Test func refusesDuplicatesAndFloats() {
        for text in [#"{"a":1,"a":2}"#, #"{"b":1,"a":2,"b":3}"#, "[1.5]", "[1e2]", "[1"] {
            let data = bytes(text)
            #expect((try? RawJSON.canonical(data, in: 0..<data.count)) == nil, "\(text)")
        }
    }

    @Test func splitsObjectsIntoMembers() throws {
        let data = bytes(#" {"signed": {"x": [1, "]"]}, "signatures": [] } "#)
        let members = try RawJSON.members(of: data, in: 0..<data.count)
        #expect(members.map(\.key) == ["signed", "signatures"])
        #expect(String(decoding: data[members[0].range], as: UTF8.self) == #"{"x": [1, "]"]}"#)
        #expect((try? RawJSON.members(of: bytes(#"{"a":1,"a":2}"#), in: 0..<13)) == nil)
    }
}
