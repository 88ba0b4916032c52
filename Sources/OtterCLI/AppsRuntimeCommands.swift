import ArgumentParser
import ComposeApps
import FoundationEssentials

/// Where the engine runtime's commands find the Docker Engine API and keep compose projects.
struct EngineOptions: ParsableArguments {
    @Option(name: .customLong("engine-socket"), help: ArgumentHelp("The Docker Engine API socket (dockerd, or podman's service).", valueName: "path"))
    var socket: String = "/var/run/docker.sock"

    @Option(name: .customLong("compose-root"), help: ArgumentHelp("Compose projects (default: <sysroot>/var/lib/otter/compose).", valueName: "path"))
    var composeRoot: String?

    @Option(name: .customLong("compose-command"), help: ArgumentHelp("The compose CLI, e.g. docker-compose or \"docker compose\".", valueName: "command"))
    var composeCommand: String = "docker-compose"

    func runtime(_ global: GlobalOptions) -> ComposeRuntime {
        ComposeRuntime(configuration: .init(socketPath: socket, composeRoot: composeRoot ?? global.path("/var/lib/otter/compose"),
                                            composeCommand: composeCommand.split(separator: " ").map(String.init)))
    }
}

extension AppsCommand {
    /// Apps named on the command line, read from the store without any network access.
    static func storedApps(_ arguments: [String], store: AppStore) throws -> [StoredApp] {
        try arguments.map { argument in
            let (name, uri) = try Fetch.parse(argument)
            return try store.storedApp(name: name, uri: uri.description)
        }
    }

    struct Install: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load fetched apps' images into the engine and write their compose projects; running containers are not touched.",
            discussion: "Nothing is downloaded: run `otter apps fetch` first. `otter apps start` then replaces the running version.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var store: AppStoreOptions
        @OptionGroup var engine: EngineOptions
        @Argument(help: "Apps as [NAME=]REGISTRY/REPO@sha256:<digest>.") var apps: [String]

        func run() async throws {
            try await reportingErrors {
                let runtime = engine.runtime(global)
                var reports: [String: AppInstallReport] = [:]
                for app in try storedApps(apps, store: AppStore(root: store.root(global))) {
                    let report = try await runtime.install(app)
                    reports[app.name] = report
                    if !global.json { print("\(app.name): \(report.loaded.count) image(s) loaded, \(report.alreadyPresent.count) already present") }
                }
                if global.json { try printJSON(reports.mapValues { ["loaded": $0.loaded, "alreadyPresent": $0.alreadyPresent] }) }
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start installed apps (compose up); containers of another version are replaced.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var store: AppStoreOptions
        @OptionGroup var engine: EngineOptions
        @Argument(help: "Apps as [NAME=]REGISTRY/REPO@sha256:<digest>.") var apps: [String]

        func run() async throws {
            try await reportingErrors {
                let runtime = engine.runtime(global)
                for app in try storedApps(apps, store: AppStore(root: store.root(global))) {
                    try await runtime.start(app)
                    if !global.json { print("\(app.name): started") }
                }
            }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop apps and remove their containers (compose down).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var engine: EngineOptions
        @Argument(help: "App names.") var names: [String]

        func run() async throws {
            try await reportingErrors {
                let runtime = engine.runtime(global)
                for name in names {
                    try await runtime.stop(name: name)
                    if !global.json { print("\(name): stopped") }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Each app's services: container state, exit code and health (what the boot-health check reads).",
            discussion: "Exit status 0 when every app shown is running and healthy, 1 otherwise.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var engine: EngineOptions
        @Argument(help: "App names (default: every installed app).") var names: [String] = []

        func run() async throws {
            var healthy = true
            try await reportingErrors {
                let runtime = engine.runtime(global)
                var statuses = try await runtime.statusAll()
                if !names.isEmpty { statuses = statuses.filter { names.contains($0.name) } }
                healthy = statuses.allSatisfy(\.isRunningAndHealthy)
                if global.json { try printJSON(statuses); return }
                if statuses.isEmpty { print("no apps installed") }
                for app in statuses {
                    print("\(app.name)\t\(app.isRunningAndHealthy ? "running" : "NOT HEALTHY")\t\(app.uri ?? "(not installed by otter)")")
                    for service in app.services {
                        var line = "  \(service.service)\t\(service.state.rawValue)"
                        if service.health != .none { line += "\t\(service.health.rawValue)" }
                        if service.state == .exited, let code = service.exitCode { line += "\texit \(code)" }
                        print(line)
                    }
                }
            }
            if !healthy { throw ExitCode.failure }
        }
    }
}
