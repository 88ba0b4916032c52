import Foundation
import TestSupport

/// The repository root (the files image builders take live there, not in a test bundle).
let repoRoot: String = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

func repoPath(_ relative: String) -> String { repoRoot + "/" + relative }

/// A fresh directory under /tmp, removed by the caller with `removeTree`.
func makeTemporaryDirectory(_ label: String) throws -> String {
    let path = NSTemporaryDirectory() + "otter-integration-\(label)-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

func removeTree(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

/// Runs a program found on PATH; throws with its output when it fails and `check` is set.
@discardableResult
func tool(_ name: String, _ args: [String], cwd: String? = nil, check: Bool = true) throws -> (out: String, err: String, status: Int32) {
    let result = try runProcess("/usr/bin/env", [name] + args, cwd: cwd)
    if check && result.status != 0 {
        throw ToolFailure(command: ([name] + args).joined(separator: " "), status: result.status, output: result.out + result.err)
    }
    return result
}

struct ToolFailure: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var output: String
    var description: String { "`\(command)` exited \(status): \(output)" }
}

func write(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

func read(_ path: String) throws -> String { try String(contentsOfFile: path, encoding: .utf8) }
