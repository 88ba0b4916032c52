import Foundation
import Testing
import TestSupport
@testable import ComposeApps

@Suite struct YAMLNodeTests {
    @Test func parsesMappingsSequencesAndScalarsInOrder() throws {
        let node = try #require(try YAMLNode.parse("""
            # comment
            services:
              web:
                image: "nginx:1.27"
                ports: ["8080:80"]
              db:
                image: postgres
            version: 3.8
            """))
        let services = try #require(node["services"]?.mapping)
        #expect(services.map { $0.key.string } == ["web", "db"])
        #expect(services["web"]?["image"]?.string == "nginx:1.27")
        #expect(node["version"]?.string == "3.8")
        guard case let .sequence(ports, _)? = services["web"]?["ports"] else { Issue.record("ports is not a sequence"); return }
        #expect(ports.map(\.string) == ["8080:80"])
    }

    @Test func aliasesAreExpandedWhereUsed() throws {
        let node = try #require(try YAMLNode.parse("""
            x-env: &env
              LEVEL: debug
            services:
              a:
                environment: *env
            """))
        #expect(node["services"]?["a"]?["environment"]?["LEVEL"]?.string == "debug")
    }

    @Test func malformedYAMLNamesItsLine() throws {
        let cases = ["services:\n  web: [a, b\n", "a: b\n c: d\n  - e\n", "a: *nowhere\n", "key: \"unclosed\n"]
        for text in cases {
            do {
                _ = try YAMLNode.parse(text)
                Issue.record("accepted: \(text.debugDescription)")
            } catch {
                #expect(error.line >= 1, "\(text.debugDescription): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
        #expect(try YAMLNode.parse("") == nil)
        #expect(try YAMLNode.parse("# nothing\n") == nil)
    }

    /// What was a number stays a number and what was a string stays a string, for the next
    /// reader (compose resolves plain scalars by YAML 1.1 rules).
    @Test func writingKeepsEachScalarsTypeAndReadsBackEqual() throws {
        let text = """
            services:
              web:
                image: 'nginx:1.27'
                ports:
                - "8080:80"
                - 9000
                restart: "no"
                tty: true
                healthcheck:
                  retries: 3
                  test: ["CMD", "true"]
                command: !!str 123
                labels: {}
                environment:
                  EMPTY:
                  MULTI: |
                    line one
                    line two
            """
        let node = try #require(try YAMLNode.parse(text))
        let written = try node.yaml()
        #expect(try YAMLNode.parse(written) == node)
        #expect(written.contains("retries: 3\n"))
        #expect(written.contains("tty: true\n"))
        #expect(written.contains("restart: \"no\""))
        #expect(written.contains("- 9000\n"))
        #expect(written.contains("!!str 123"))
        #expect(written.contains("labels: {}"))
    }

    @Test func newStringsAreWrittenQuotedSoTheyStayStrings() throws {
        var mapping = try #require(try YAMLNode.parse("a: 1\n")?.mapping)
        mapping["b"] = YAMLNode("true")
        mapping["c"] = YAMLNode("never")
        mapping["a"] = nil
        let written = try YAMLNode(mapping).yaml()
        #expect(written == "b: \"true\"\nc: \"never\"\n")
    }

    /// PyYAML, which docker-compose 1.29 reads compose files with, sees the same values.
    @Test func pythonsYAMLReadsTheWrittenFileAsTheOriginal() throws {
        let text = """
            services:
              web:
                image: nginx@sha256:0000000000000000000000000000000000000000000000000000000000000000
                ports: ["8080:80", 9000]
                restart: "no"
                tty: yes
                healthcheck: {retries: 3, interval: 1m30s}
                environment:
                  A: "1"
                  B: 1.5
                  C: null
                  D: "é ✓"
            """
        let node = try #require(try YAMLNode.parse(text))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("otter-yaml-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try text.write(toFile: dir + "/original.yml", atomically: true, encoding: .utf8)
        try node.yaml().write(toFile: dir + "/written.yml", atomically: true, encoding: .utf8)
        let result = try runProcess("/usr/bin/python3", ["-c", """
            import sys, yaml
            a = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
            b = yaml.safe_load(open(sys.argv[2], encoding="utf-8"))
            print(repr(b))
            sys.exit(0 if a == b else 1)
            """, dir + "/original.yml", dir + "/written.yml"])
        #expect(result.status == 0, "PyYAML reads a different document: \(result.out) \(result.err)")
    }
}
