import ArgumentParser
import FoundationEssentials
import Factory
import Gateway
import Glibc

/// Options every factory command takes.
struct FactoryOptions: ParsableArguments {
    @Option(name: .customLong("factory"),
            help: ArgumentHelp("The factory directory (made by `otter-factory init`).", valueName: "dir"))
    var directory: String = "."

    @Option(help: ArgumentHelp("The factory database: postgres://user[:password]@host[:port]/db, or a SQLite file (default <factory>/factory.db).",
                               valueName: "url"))
    var database: String?

    @Flag(help: "Print machine-readable JSON on stdout instead of text.")
    var json = false

    func openDatabase() async throws -> FactoryDatabase {
        try await FactoryDatabase.open(database, factory: database == nil ? try FactoryDirectory(existing: directory) : nil)
    }
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
