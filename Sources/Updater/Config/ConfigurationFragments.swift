#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials

/// Every `section.key` of the fragments, the last file's value winning, with the file it came
/// from (for errors). Readers mark what they consume; the rest are the unknown keys.
struct ConfigurationFragments {
    struct Entry {
        var value: ConfigurationValue
        var file: String
    }

    /// "section.key" → entry; top-level values that are not tables are stored under their own name.
    private(set) var entries: [String: Entry] = [:]
    private(set) var files: [String] = []
    private var consumed: Set<String> = []

    /// Loads `*.toml` of each directory in order, each directory's files sorted by name. A missing
    /// directory is skipped; an unreadable file or a TOML syntax error is fatal.
    init(directories: [String]) throws(OtterConfigurationError) {
        for directory in directories {
            for file in Self.fragmentFiles(in: directory) {
                try merge(file: file)
            }
        }
    }

    static func fragmentFiles(in directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".toml") && !$0.hasPrefix(".") }
            .sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            .map { "\(directory)/\($0)" }
            .filter { FileStatus($0)?.isRegularFile == true }
    }

    private mutating func merge(file: String) throws(OtterConfigurationError) {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw .unreadable(file: file, reason: String(cString: strerror(errno)))
        }
        let assignments: [TOMLReader.Assignment]
        do {
            assignments = try TOMLReader.parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw .syntax(file: file, line: error.line, column: error.column, message: error.message)
        }
        files.append(file)
        for assignment in assignments {
            // `section.key`; anything deeper is a table inside the section (no setting is one).
            let key = assignment.path.prefix(2).joined(separator: ".")
            entries[key] = Entry(value: assignment.path.count > 2 ? .table : assignment.value, file: file)
        }
    }

    /// Keys present in the files that no reader asked for, sorted.
    var unconsumed: [(key: String, file: String)] {
        entries.keys.filter { !consumed.contains($0) }.sorted().map { ($0, entries[$0]!.file) }
    }

    // MARK: Typed readers (nil when the key is absent; a value of the wrong type is an error)

    mutating func entry(_ key: String) -> Entry? {
        consumed.insert(key)
        return entries[key]
    }

    mutating func string(_ key: String) throws(OtterConfigurationError) -> String? {
        guard let entry = entry(key) else { return nil }
        guard case let .string(value) = entry.value else { throw mismatch(key, entry, expected: "a string") }
        return value
    }

    mutating func integer(_ key: String) throws(OtterConfigurationError) -> Int? {
        guard let entry = entry(key) else { return nil }
        guard case let .integer(value) = entry.value else { throw mismatch(key, entry, expected: "an integer") }
        return value
    }

    mutating func boolean(_ key: String) throws(OtterConfigurationError) -> Bool? {
        guard let entry = entry(key) else { return nil }
        guard case let .boolean(value) = entry.value else { throw mismatch(key, entry, expected: "a boolean (true or false)") }
        return value
    }

    mutating func strings(_ key: String) throws(OtterConfigurationError) -> [String]? {
        guard let entry = entry(key) else { return nil }
        guard case let .array(items) = entry.value else { throw mismatch(key, entry, expected: "an array of strings") }
        var result: [String] = []
        for item in items {
            guard case let .string(value) = item else { throw mismatch(key, entry, expected: "an array of strings") }
            result.append(value)
        }
        return result
    }

    /// Seconds as an integer or a float (`timeout = 90`, `timeout = 0.5`), at least `minimum`.
    mutating func seconds(_ key: String, minimum: Double = 0) throws(OtterConfigurationError) -> Duration? {
        guard let entry = entry(key) else { return nil }
        let seconds: Double
        switch entry.value {
        case let .integer(value): seconds = Double(value)
        case let .float(value): seconds = value
        default: throw mismatch(key, entry, expected: "a number of seconds")
        }
        guard seconds >= minimum, seconds.isFinite else {
            throw .invalidValue(file: entry.file, key: key, value: "\(seconds)",
                                expected: minimum > 0 ? "more than 0 seconds" : "0 seconds or more")
        }
        return .milliseconds(Int64(seconds * 1000))
    }

    /// An absolute path.
    mutating func path(_ key: String) throws(OtterConfigurationError) -> String? {
        guard let value = try string(key) else { return nil }
        try requireAbsolute(value, key: key)
        return value
    }

    mutating func paths(_ key: String) throws(OtterConfigurationError) -> [String]? {
        guard let values = try strings(key) else { return nil }
        for value in values { try requireAbsolute(value, key: key) }
        return values
    }

    /// One of `choices` (compared as written).
    mutating func choice(_ key: String, _ choices: [String]) throws(OtterConfigurationError) -> String? {
        guard let value = try string(key) else { return nil }
        guard choices.contains(value) else {
            throw .invalidValue(file: entries[key]!.file, key: key, value: "\"\(value)\"",
                                expected: "one of " + choices.map { "\"\($0)\"" }.joined(separator: ", "))
        }
        return value
    }

    private func requireAbsolute(_ value: String, key: String) throws(OtterConfigurationError) {
        guard value.hasPrefix("/") else {
            throw .invalidValue(file: entries[key]!.file, key: key, value: "\"\(value)\"", expected: "an absolute path")
        }
    }

    private func mismatch(_ key: String, _ entry: Entry, expected: String) -> OtterConfigurationError {
        .wrongType(file: entry.file, key: key, expected: expected, found: entry.value.typeName)
    }
}
