import ArgumentParser
import ComposeApps
import FoundationEssentials
import OCI
import Synchronization

/// Where the app store is and how to reach registries: options of every store verb.
struct AppStoreOptions: ParsableArguments {
    @Option(name: .customLong("apps-root"), help: ArgumentHelp("The app store (default: <sysroot>/var/lib/otter/apps).", valueName: "path"))
    var appsRoot: String?

    @Option(name: .customLong("plain-http"), help: ArgumentHelp("Reach this registry over plain http (a loopback or LAN mirror); repeatable.",
                                                               valueName: "host:port"))
    var plainHTTP: [String] = []

    @Option(name: .customLong("registry-config"), help: ArgumentHelp("Registry credentials in a docker config.json.", valueName: "path"))
    var registryConfig: String?

    @Option(help: "User name for the registries of the apps (with --password).")
    var username: String?

    @Option(help: "Password for --username.")
    var password: String?

    @Option(name: .customLong("limit-rate"), help: ArgumentHelp("Download at most this many bytes per second per blob.", valueName: "bytes"))
    var limitRate: Int64?

    func root(_ global: GlobalOptions) -> String { appsRoot ?? global.path(AppStore.defaultRoot) }

    var access: RegistryAccess {
        var access = RegistryAccess(plainHTTPRegistries: plainHTTP, dockerConfigPath: registryConfig, username: username, password: password)
        access.maxBytesPerSecond = limitRate
        return access
    }
}

extension AppsCommand {
    struct Fetch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download compose apps and every image they pin into the app store.",
            discussion: """
            Each argument is an app URI as a Target lists it, registry/repository@sha256:<digest>, \
            optionally prefixed by NAME= (the name defaults to the repository's last path component). \
            Everything is verified against its digest; an interrupted fetch resumes where it stopped; \
            what is already stored is not downloaded again. The free space is checked before the \
            first image byte. Fetched apps are referenced under --role (default pending), so \
            `otter apps prune` keeps them.
            """)

        @OptionGroup var global: GlobalOptions
        @OptionGroup var store: AppStoreOptions

        @Option(help: "Reference the fetched apps under this role (current, pending, …).")
        var role: String = AppStore.pendingRole

        @Option(name: .customLong("reserve-bytes"), help: "Bytes that must stay free on the store's volume.")
        var reserveBytes: Int64 = 16 << 20

        @Option(name: .customLong("max-concurrent"), help: "Blob downloads at a time.")
        var maxConcurrent: Int = 4

        @Argument(help: ArgumentHelp("Apps to fetch.", valueName: "[name=]uri"))
        var apps: [String]

        func validate() throws {
            guard !apps.isEmpty else { throw ValidationError("name at least one app URI") }
            guard maxConcurrent > 0, reserveBytes >= 0 else { throw ValidationError("--max-concurrent must be > 0, --reserve-bytes ≥ 0") }
            for app in apps { _ = try Self.parse(app) }
        }

        static func parse(_ argument: String) throws -> (name: String, uri: AppURI) {
            var name: String?
            var text = argument
            if let equals = argument.firstIndex(of: "="), !argument[..<equals].contains("/") {
                name = String(argument[..<equals])
                text = String(argument[argument.index(after: equals)...])
            }
            let uri: AppURI
            do { uri = try AppURI(parsing: text) } catch { throw ValidationError(error.description) }
            let chosen = name ?? uri.defaultName
            guard !chosen.isEmpty else { throw ValidationError("app \(argument) has an empty name") }
            return (chosen, uri)
        }

        struct Report: Encodable {
            struct App: Encodable { let name, uri, manifestDigest, bundleDirectory: String; let images: Int; let layers: Int }
            let root: String
            let role: String
            let apps: [App]
            let downloadedBytes: Int64
            let downloadedBlobs: Int
            let storedBlobs: Int
            let neededBytes: Int64
            let availableBytes: Int64
        }

        func run() async throws {
            try await reportingErrors {
                let parsed = try apps.map(Self.parse)
                let root = store.root(global)
                let appStore = try AppStore(root: root, configuration: .init(reserveBytes: reserveBytes, maxConcurrentDownloads: maxConcurrent))
                let registry = try store.access.client(for: Array(Set(parsed.map(\.uri.repository.registry))).sorted())
                let reporter = AppFetchProgressReporter(ProgressReporter(quiet: global.json))
                let report: AppStore.FetchReport
                do {
                    report = try await appStore.fetch(apps: parsed.map { ($0.name, $0.uri.description) }, from: registry,
                                                      progress: reporter.update)
                } catch {
                    reporter.finish()
                    throw error
                }
                try appStore.setReferences(parsed.map { AppReference(name: $0.name, uri: $0.uri.description) }, role: role, merging: true)
                if global.json {
                    try printJSON(Report(
                        root: root, role: role,
                        apps: report.apps.map { Report.App(name: $0.name, uri: $0.uri, manifestDigest: $0.manifestDigest.description,
                                                           bundleDirectory: $0.bundleDirectory, images: $0.images.count,
                                                           layers: $0.images.reduce(0) { $0 + $1.layers.count }) },
                        downloadedBytes: report.downloadedBytes, downloadedBlobs: report.downloadedBlobs, storedBlobs: report.storedBlobs,
                        neededBytes: report.space.neededBytes, availableBytes: report.space.availableBytes))
                    return
                }
                for app in report.apps {
                    print("fetched \(app.name) \(app.uri) (\(app.images.count) image\(app.images.count == 1 ? "" : "s"))")
                }
                print("downloaded \(formatBytes(UInt64(report.downloadedBytes))), \(report.downloadedBlobs) blob\(report.downloadedBlobs == 1 ? "" : "s") fetched, \(report.storedBlobs) already stored; referenced as \(role)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls",
            abstract: "List the apps in the app store: name, URI, size and the roles referencing them.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var store: AppStoreOptions

        struct Report: Encodable {
            let root: String
            let apps: [AppStore.FetchedApp]
        }

        func run() async throws {
            try await reportingErrors {
                let root = store.root(global)
                let apps = try AppStore(root: root).fetchedApps()
                if global.json {
                    try printJSON(Report(root: root, apps: apps))
                    return
                }
                if apps.isEmpty { print("no apps in \(root): fetch some with `otter apps fetch NAME=URI`") }
                for app in apps {
                    var marks = app.roles
                    if !app.complete { marks.append("incomplete: fetch again") }
                    print("\(app.name)\t\(app.uri)\t\(formatBytes(UInt64(app.sizeBytes)))\(marks.isEmpty ? "" : "\t(" + marks.joined(separator: ", ") + ")")")
                }
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove every bundle and blob that no referenced app (current, pending) needs.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var store: AppStoreOptions

        func run() async throws {
            try await reportingErrors {
                let report = try AppStore(root: store.root(global)).prune()
                if global.json {
                    try printJSON(report)
                    return
                }
                print("kept \(report.keptApps.count) referenced app\(report.keptApps.count == 1 ? "" : "s"); removed \(report.removedBundles) bundle\(report.removedBundles == 1 ? "" : "s"), \(report.removedBlobs) blob\(report.removedBlobs == 1 ? "" : "s"), \(report.removedPartials) partial download\(report.removedPartials == 1 ? "" : "s"); freed \(formatBytes(UInt64(report.freedBytes)))")
            }
        }
    }
}

/// App-set fetch progress on the shared reporter: at most ten redraws a second.
final class AppFetchProgressReporter: Sendable {
    private let reporter: Mutex<(ProgressReporter, ContinuousClock.Instant)>

    init(_ reporter: ProgressReporter) {
        self.reporter = Mutex((reporter, .now - .seconds(1)))
    }

    func update(_ p: AppStore.FetchProgress) {
        reporter.withLock { state in
            let done = p.phase == .done
            let now = ContinuousClock.now
            guard done || now - state.1 >= .milliseconds(100), state.0.due(done: done) else { return }
            state.1 = now
            let text: String
            switch p.phase {
            case .resolving: text = "resolving \(p.apps) app\(p.apps == 1 ? "" : "s")"
            case .blobs, .done:
                text = "blobs \(p.completedBlobs)/\(p.totalBlobs), \(formatBytes(UInt64(p.completedBytes))) of \(formatBytes(UInt64(p.totalBytes)))"
            }
            let fraction = p.totalBytes > 0 ? Double(p.completedBytes) / Double(p.totalBytes) : (done ? 1 : 0)
            state.0.draw(fraction: fraction, text: text, done: done, label: "fetch")
        }
    }

    func finish() { reporter.withLock { $0.0.finish() } }
}
