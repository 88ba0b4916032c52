/// Variables in a text file, one `name=value` per line — for tests and for devices whose boot
/// script keeps its counter in a text file (`env import -t` / `env export -t` on a FAT partition).
/// Written atomically (temporary + fsync + rename). A missing file is an empty environment.
public struct PlainFileEnvironment: BootloaderEnvironment {
    public let path: String

    public var backendName: String { "file" }

    public init(path: String) {
        self.path = path
    }

    public func variables() throws -> [String: String] {
        guard EnvironmentFile.exists(path) else { return [:] }
        var variables: [String: String] = [:]
        let text = String(decoding: try EnvironmentFile.readAll(path), as: UTF8.self)
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw BootloaderError.corruptEnvironment(path: path, detail: "line \(number + 1) has no '='")
            }
            variables[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return variables
    }

    public func apply(_ changes: [String: String?]) throws {
        var variables = try variables()
        try VariableName.merge(changes, into: &variables)
        for (name, value) in variables where value.contains("\n") {
            throw BootloaderError.invalidValue(name: name, value: value, expected: "a single line")
        }
        let text = variables.keys.sorted().map { "\($0)=\(variables[$0]!)\n" }.joined()
        try EnvironmentFile.replace(path, with: Array(text.utf8))
    }
}
