import Testing
@testable import Updater

@Suite struct TOMLReaderTests {
    func values(_ text: String) throws -> [String: ConfigurationValue] {
        Dictionary(try TOMLReader.parse(text).map { ($0.path.joined(separator: "."), $0.value) }, uniquingKeysWith: { $1 })
    }

    func syntaxError(_ text: String) -> TOMLSyntaxError? {
        do {
            _ = try TOMLReader.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsTablesDottedKeysAndEveryValueKindTheConfigurationUses() throws {
        let parsed = try values(#"""
            # a comment
            top = 1
            [device]   # trailing comment
            name = "line-3"
            "quoted key" = 'literal \n stays'
            site.floor = 2
            [update . schedule]
            enabled = true
            off = false
            interval = 1_000
            negative = -5
            hex = 0xff
            octal = 0o17
            binary = 0b101
            ratio = 0.5
            big = 6.02e23
            list = [ "a", 'b',
              # comment inside
              "c", ]
            nested = [[1, 2], []]
            inline = { a = 1, b = "x" }
            when = 1979-05-27T07:32:00Z
            """#)
        #expect(parsed["top"] == .integer(1))
        #expect(parsed["device.name"] == .string("line-3"))
        #expect(parsed["device.quoted key"] == .string(#"literal \n stays"#))
        #expect(parsed["device.site.floor"] == .integer(2))
        #expect(parsed["update.schedule.enabled"] == .boolean(true))
        #expect(parsed["update.schedule.off"] == .boolean(false))
        #expect(parsed["update.schedule.interval"] == .integer(1000))
        #expect(parsed["update.schedule.negative"] == .integer(-5))
        #expect(parsed["update.schedule.hex"] == .integer(255))
        #expect(parsed["update.schedule.octal"] == .integer(15))
        #expect(parsed["update.schedule.binary"] == .integer(5))
        #expect(parsed["update.schedule.ratio"] == .float(0.5))
        #expect(parsed["update.schedule.big"] == .float(6.02e23))
        #expect(parsed["update.schedule.list"] == .array([.string("a"), .string("b"), .string("c")]))
        #expect(parsed["update.schedule.nested"] == .array([.array([.integer(1), .integer(2)]), .array([])]))
        #expect(parsed["update.schedule.inline"] == .table)
        #expect(parsed["update.schedule.when"] == .other("date"))
    }

    @Test func decodesEveryStringEscapeAndMultiLineForm() throws {
        let parsed = try values(#"""
            basic = "tab\there \"quoted\" back\\slash \u00e9 \U0001F9A6 nl\n"
            literal = 'C:\path\no-escape'
            multi = """
            first
            second"""
            joined = """\
                one \
                two"""
            raw = '''
            keep \n as is'''
            quotes = """two "" inside"""
            """#)
        #expect(parsed["basic"] == .string("tab\there \"quoted\" back\\slash é 🦦 nl\n"))
        #expect(parsed["literal"] == .string(#"C:\path\no-escape"#))
        #expect(parsed["multi"] == .string("first\nsecond"))
        #expect(parsed["joined"] == .string("one two"))
        #expect(parsed["raw"] == .string(#"keep \n as is"#))
        #expect(parsed["quotes"] == .string(#"two "" inside"#))
    }

    @Test func malformedInputIsRefusedWithItsLineAndWhatIsWrong() {
        let cases: [(text: String, line: Int, mentions: String)] = [
            ("[device]\nname = \"ok\"\ntag = \n", 3, "expected a value"),
            ("a = \"never closed\n", 1, "not closed"),
            ("a = 'never closed\n", 1, "not closed"),
            ("\n\na = \"bad \\q escape\"\n", 3, "unknown escape"),
            ("a = \"\\u12\"\n", 1, "hex digits"),
            ("a = yes\n", 1, "not a TOML value"),
            ("a = 1 2\n", 1, "after the value"),
            ("a = [1, 2\n", 2, "`]`"),
            ("a = 01\n", 1, "not a TOML value"),
            ("a = 1__0\n", 1, "not a TOML value"),
            ("[device\nname = 1\n", 1, "`]`"),
            ("[[apps]]\n", 1, "arrays of tables"),
            ("name\n", 1, "expected `=`"),
            ("= 1\n", 1, "expected a key"),
            ("[a]\nx = 1\n[a]\n", 3, "defined twice (first on line 1)"),
            ("[a]\nx = 1\nx = 2\n", 3, "a.x is defined twice (first on line 2)"),
            ("a = \"\"\"\nnever closed\n", 1, "multi-line string is not closed"),
            ("a = { b = 1\n", 1, "inline table"),
        ]
        for (text, line, mentions) in cases {
            guard let error = syntaxError(text) else {
                Issue.record("accepted: \(text.debugDescription)")
                continue
            }
            #expect(error.line == line, "\(text.debugDescription): \(error)")
            #expect(error.message.contains(mentions), "\(text.debugDescription): \(error)")
        }
    }

    @Test func columnsPointAtTheFault() {
        #expect(syntaxError("a = tru\n") == TOMLSyntaxError(line: 1, column: 5, message: "`tru` is not a TOML value (strings need quotes: \"tru\")"))
        #expect(syntaxError("ok = 1\n  bad = \"x\" y\n")?.column == 13)
    }

    @Test func windowsLineEndingsAndAnEmptyFileAreFine() throws {
        #expect(try values("[a]\r\nb = 1\r\n") == ["a.b": .integer(1)])
        #expect(try TOMLReader.parse("").isEmpty)
        #expect(try TOMLReader.parse("# only a comment").isEmpty)
    }
}
