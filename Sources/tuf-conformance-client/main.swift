// tuf-conformance-client: the command line TUF conformance harnesses drive
// (/work/shared/TUF-CLIENT-CLI.md). Exit status is exactly 0 or 1; every failure is caught.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TUF

struct Invocation {
    var metadataDir: String?
    var metadataURL: String?
    var targetDir: String?
    var targetBaseURL: String?
    var targetNames: [String] = []
    var command: String?
    var operands: [String] = []
}

struct UsageError: Error, CustomStringConvertible {
    let description: String
}

func parse(_ args: [String]) throws -> Invocation {
    var invocation = Invocation()
    var i = 0
    func value(_ option: String) throws -> String {
        i += 1
        guard i < args.count else { throw UsageError(description: "\(option) needs a value") }
        return args[i]
    }
    while i < args.count {
        let arg = args[i]
        switch arg {
        case "--metadata-dir": invocation.metadataDir = try value(arg)
        case "--metadata-url": invocation.metadataURL = try value(arg)
        case "--target-dir": invocation.targetDir = try value(arg)
        case "--target-base-url": invocation.targetBaseURL = try value(arg)
        case "--target-name": invocation.targetNames.append(try value(arg))
        case "-v", "-vv", "-vvv", "--verbose": break
        default:
            if arg.hasPrefix("-") { throw UsageError(description: "unknown option \(arg)") }
            if invocation.command == nil { invocation.command = arg } else { invocation.operands.append(arg) }
        }
        i += 1
    }
    return invocation
}

func log(_ message: String) {
    var line = Array((message + "\n").utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

func run(_ invocation: Invocation) async throws {
    guard let metadataDir = invocation.metadataDir else { throw UsageError(description: "--metadata-dir is required") }
    let store = DirectoryStore(path: metadataDir)
    switch invocation.command {
    case "init":
        guard invocation.operands.count == 1 else { throw UsageError(description: "usage: init TRUSTED_ROOT_FILE") }
        guard let bytes = readWholeFile(invocation.operands[0]) else {
            throw UsageError(description: "cannot read \(invocation.operands[0])")
        }
        try store.write("root.json", bytes)
    case "refresh":
        let client = try makeClient(invocation, store: store)
        try await client.refresh()
    case "download":
        guard let targetDir = invocation.targetDir else { throw UsageError(description: "--target-dir is required") }
        guard invocation.targetBaseURL != nil else { throw UsageError(description: "--target-base-url is required") }
        guard !invocation.targetNames.isEmpty else { throw UsageError(description: "--target-name is required") }
        let client = try makeClient(invocation, store: store)
        try await client.refresh()
        let artifacts = DirectoryStore(path: targetDir)
        for name in invocation.targetNames {
            let target = try await client.target(name)
            let downloaded = try await client.download(target, into: artifacts)
            log("\(name): \(downloaded ? "downloaded" : "already present") and verified")
        }
    case let other?:
        throw UsageError(description: "unknown command \(other) (init, refresh, download)")
    case nil:
        throw UsageError(description: "usage: tuf-conformance-client --metadata-dir DIR [--metadata-url URL] (init ROOT | refresh | download)")
    }
}

func makeClient(_ invocation: Invocation, store: DirectoryStore) throws -> TUFClient {
    guard let url = invocation.metadataURL else { throw UsageError(description: "--metadata-url is required") }
    let configuration = TUFClientConfiguration(metadataBaseURL: url, targetBaseURL: invocation.targetBaseURL)
    return TUFClient(configuration: configuration, transport: HTTPTransport(), store: store)
}

func readWholeFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n > 0 { out.append(contentsOf: chunk[0..<n]) }
        if n < chunk.count { break }
    }
    return ferror(file) == 0 ? out : nil
}

do {
    try await run(try parse(Array(CommandLine.arguments.dropFirst())))
    exit(0)
} catch {
    log("tuf-conformance-client: \(error)")
    exit(1)
}
