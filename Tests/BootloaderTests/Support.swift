import Foundation
import TestSupport
import Testing

/// Runs a tool and returns its stdout; throws with its stderr when it exits non-zero.
@discardableResult
func tool(_ args: [String], allowFailure: Bool = false) throws -> String {
    let result = try runTool(args)
    if result.status != 0 && !allowFailure {
        throw ToolError(command: args.joined(separator: " "), status: result.status, output: result.err + result.out)
    }
    return result.out
}

func runTool(_ args: [String]) throws -> (out: String, err: String, status: Int32) {
    try runProcess("/usr/bin/env", args)
}

struct ToolError: Error, CustomStringConvertible {
    let command: String
    let status: Int32
    let output: String
    var description: String { "`\(command)` exited \(status): \(output)" }
}

/// A temporary directory removed at deinit.
final class TempDir: @unchecked Sendable {
    let path: String

    init(_ label: String = "otter-boot") {
        var template = Array("/tmp/\(label).XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func writeText(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
}

func bytes(of path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

func overwriteByte(in path: String, at offset: Int, with byte: UInt8) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    handle.write(Data([byte]))
}

/// `fw_printenv` output as a dictionary.
func printenv(_ config: String) throws -> [String: String] {
    parseLines(try tool(["fw_printenv", "-c", config]))
}

func grubList(_ path: String) throws -> [String: String] {
    parseLines(try tool(["grub-editenv", path, "list"]))
}

func parseLines(_ text: String) -> [String: String] {
    var result: [String: String] = [:]
    for line in text.split(separator: "\n") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        result[String(line[..<eq])] = String(line[line.index(after: eq)...])
    }
    return result
}
