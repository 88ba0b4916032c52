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

/// An 8 MiB MBR disk image with one FAT partition (from sector 2048) that QEMU boots from; the
/// tests fill its tree, read files back after a boot and replace files between boots.
final class FATDisk {
    let dir: String
    var image: String { dir + "/disk.img" }
    var partition: String { dir + "/part.img" }

    init(label: String, fill: (_ tree: String) throws -> Void) throws {
        dir = try makeTemporaryDirectory(label)
        let tree = dir + "/tree"
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        try fill(tree)
        try tool("truncate", ["-s", "7M", partition])
        try tool("mkfs.vfat", ["-n", "OTTERBOOT", partition])
        let entries = try FileManager.default.contentsOfDirectory(atPath: tree).map { tree + "/" + $0 }
        try tool("mcopy", ["-s", "-i", partition] + entries + ["::/"])
        try assemble()
    }

    /// Writes the partition into a fresh MBR disk image.
    func assemble() throws {
        try? FileManager.default.removeItem(atPath: image)
        try tool("truncate", ["-s", "8M", image])
        let sfdisk = try runProcess("/bin/sh", ["-c", "echo 'start=2048,type=c,bootable' | sfdisk -q \"$1\"", "sh", image])
        guard sfdisk.status == 0 else { throw ToolFailure(command: "sfdisk \(image)", status: sfdisk.status, output: sfdisk.err) }
        try tool("dd", ["if=" + partition, "of=" + image, "bs=512", "seek=2048", "conv=notrunc", "status=none"])
    }

    /// Copies the partition back out of the disk QEMU wrote.
    func extract() throws {
        try tool("dd", ["if=" + image, "of=" + partition, "bs=512", "skip=2048", "status=none"])
    }

    /// The file at `path` in the partition ("dir/name", no leading slash needed).
    func readFile(_ path: String) throws -> String {
        try extract()
        return try tool("mcopy", ["-n", "-i", partition, "::" + path, "-"]).out
    }

    func copyOut(_ path: String, to local: String) throws {
        try extract()
        try? FileManager.default.removeItem(atPath: local)
        try tool("mcopy", ["-n", "-i", partition, "::" + path, local])
    }

    func putFile(_ path: String, from local: String) throws {
        try extract()
        try tool("mcopy", ["-o", "-i", partition, local, "::" + path])
        try assemble()
    }

    deinit { removeTree(dir) }
}

/// The console lines of a QEMU run without terminal escape sequences (GRUB positions the cursor).
func consoleLines(_ console: String) -> [String] {
    let plain = console.replacing(#/\x1b\[[0-9;?]*[A-Za-z]/#, with: "")
    return plain.split(whereSeparator: \.isNewline).map(String.init)
}
