import ArgumentParser
import FoundationEssentials
import Glibc

/// Options every factory command takes.
struct FactoryOptions: ParsableArguments {
    @Option(name: .customLong("factory"),
            help: ArgumentHelp("The factory directory (made by `otter-factory init`).", valueName: "dir"))
    var directory: String = "."

    @Flag(help: "Print machine-readable JSON on stdout instead of text.")
    var json = false
}

/// Errors go to stderr as one line with the program name; the exit status is 1.
func reportingFactoryErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch {
        writeNote("otter-factory: \(error)")
        throw ExitCode.failure
    }
}

func printFactoryJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// A line on stderr (notes and errors), so stdout stays what scripts read.
func writeNote(_ text: String) {
    let line = text + "\n"
    _ = line.withCString { write(STDERR_FILENO, $0, strlen($0)) }
}
