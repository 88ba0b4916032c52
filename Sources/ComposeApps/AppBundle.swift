import Archive
import Glibc
import OCI
import OtterCrypto

/// The app bundle: the compose project as a reproducible gzip tar (compose-app v1 `layers[0]`,
/// REFERENCE.md §2). Same files, same bytes: entries sorted, owners 0:0, times zeroed (by
/// `ArchiveWriter`), no gzip timestamp.
public enum AppBundle {
    /// The media type of the bundle layer (forced by composeapp, whatever the content).
    public static let mediaType = "application/octet-stream"
    /// The file of ignore patterns at the project's top.
    public static let ignoreFileName = ".composeappignores"
    /// Content of an unpacked bundle, at most (compose-app v1: a bundle ≤ 1 GiB).
    public static let maxUnpackedBytes: Int64 = 1 << 30

    /// Packs the project directory into `destination` (a `.tgz`) and returns the bundle's
    /// descriptor. Regular files, directories and symlinks are packed in bytewise path order;
    /// paths matching a `.composeappignores` pattern are left out. The directory must hold a
    /// compose file, which is parsed (not checked for pins: see `ComposeFile.pinnedImages`).
    @discardableResult
    public static func pack(directory: String, to destination: String) throws -> Descriptor {
        _ = try ComposeFile(directory: directory)
        let ignores = try IgnorePatterns(file: "\(directory)/\(ignoreFileName)")
        let writer = try ArchiveWriter(path: destination, compression: .gzip)
        try add(directory, relative: "", to: writer, ignores: ignores, skipping: destination)
        try writer.finish()
        return try descriptor(ofFile: destination)
    }

    private static func add(_ directory: String, relative: String, to writer: ArchiveWriter,
                            ignores: IgnorePatterns, skipping output: String) throws {
        for name in try AppFiles.list(directory) {
            let path = "\(directory)/\(name)"
            let entry = relative.isEmpty ? name : "\(relative)/\(name)"
            if path == output { continue }
            let (kind, mode) = try AppFiles.kind(of: path)
            var isDirectory = false
            if case .directory = kind { isDirectory = true }
            if ignores.matches(entry, isDirectory: isDirectory) { continue }
            switch kind {
            case .file: try writer.addFile(entry, contentsOf: path, mode: mode)
            case .directory:
                try writer.addDirectory(entry, mode: mode)
                try add(path, relative: entry, to: writer, ignores: ignores, skipping: output)
            case .symlink(let target): try writer.addSymlink(entry, target: target)
            case .other:
                throw AppStoreError.invalidBundle(directory, reason: "\(entry) is a device, fifo or socket; remove it or list it in \(ignoreFileName)")
            }
        }
    }

    /// Unpacks a bundle file into `directory` (which must exist and be empty) with the archive
    /// module's safe extraction (no absolute paths, `..`, hard links, devices or paths through
    /// symlinks; at most 1 GiB), then checks that it holds a compose file of at most 1 MiB and
    /// returns it parsed.
    @discardableResult
    public static func unpack(_ bundle: String, into directory: String) throws -> ComposeFile {
        let reader = try ArchiveReader(path: bundle)
        try reader.extract(into: directory, limits: ExtractionLimits(maxEntries: 10_000, maxTotalBytes: maxUnpackedBytes))
        guard let compose = ComposeFile.locate(in: directory) else {
            throw AppStoreError.invalidBundle(bundle, reason: "it has no compose file (\(ComposeFile.fileNames.joined(separator: ", ")))")
        }
        if let size = AppFiles.size(of: compose), size > Int64(ComposeFile.maxBytes) {
            throw AppStoreError.invalidBundle(bundle, reason: "its compose file is \(size) bytes, more than \(ComposeFile.maxBytes)")
        }
        return try ComposeFile(directory: directory)
    }

    /// The sha256 descriptor of a file, read in 1 MiB blocks.
    static func descriptor(ofFile path: String) throws -> Descriptor {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AppFiles.failure("open", path) }
        defer { close(fd) }
        let hasher = Hasher(.sha256)
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw AppFiles.failure("read", path) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            size += Int64(n)
        }
        return Descriptor(mediaType: mediaType, digest: OCIDigest(algorithm: .sha256, bytes: hasher.finalize()), size: size)
    }
}

/// `.composeappignores`: one glob pattern a line (`#` comments, blank lines skipped). A pattern
/// with a `/` matches the path from the project's top (a leading `/` anchors it there); one
/// without matches any file or directory of that name. A trailing `/` matches directories only;
/// an ignored directory is left out with everything below it. `!pattern` re-includes.
struct IgnorePatterns {
    struct Rule {
        var pattern: String
        var anchored: Bool
        var directoryOnly: Bool
        var negated: Bool
    }

    var rules: [Rule] = []

    init(file: String) throws {
        guard AppFiles.isRegularFile(file) else { self.init(text: ""); return }
        let text = String(decoding: try AppFiles.read(file, limit: 1 << 20), as: UTF8.self)
        self.init(text: text)
    }

    init(text: String) {
        for raw in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            var line = raw.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            var rule = Rule(pattern: "", anchored: false, directoryOnly: false, negated: false)
            if line.hasPrefix("!") { rule.negated = true; line.removeFirst() }
            if line.hasSuffix("/") { rule.directoryOnly = true; line.removeLast() }
            if line.hasPrefix("/") { line.removeFirst(); rule.anchored = true }
            if line.contains("/") { rule.anchored = true }
            if line.isEmpty { continue }
            rule.pattern = String(line)
            rules.append(rule)
        }
    }

    /// Whether `path` (relative, `/`-separated) is ignored; the last matching rule decides.
    func matches(_ path: String, isDirectory: Bool) -> Bool {
        var ignored = false
        let name = path.split(separator: "/").last.map(String.init) ?? path
        for rule in rules where !rule.directoryOnly || isDirectory {
            let subject = rule.anchored ? path : name
            if fnmatch(rule.pattern, subject, FNM_PATHNAME) == 0 { ignored = !rule.negated }
        }
        return ignored
    }
}

extension Substring {
    func trimmingWhitespace() -> Substring {
        var text = self
        while let first = text.first, first == " " || first == "\t" { text.removeFirst() }
        while let last = text.last, last == " " || last == "\t" { text.removeLast() }
        return text
    }
}
