import FoundationEssentials

/// What the apps runtime says about one service of one app (a compose container).
public struct AppServiceState: Sendable, Codable, Equatable {
    public var app: String
    public var service: String
    /// The engine's container state: "running", "created", "restarting", "exited", "dead", …, or
    /// "missing" (the compose file has the service, the engine no container yet).
    public var state: String
    /// The HEALTHCHECK status ("starting", "healthy", "unhealthy"); nil when the image has none.
    public var health: String?

    public init(app: String, service: String, state: String, health: String? = nil) {
        self.app = app
        self.service = service
        self.state = state
        self.health = health
    }

    /// Still coming up: worth waiting for until the overall timeout.
    var isStarting: Bool {
        if ["created", "restarting", "starting", "missing"].contains(state) { return true }
        return state == "running" && health == "starting"
    }

    var isHealthy: Bool { state == "running" && (health == nil || health == "healthy") }
}

/// One executable of a health directory (or a green/red hook), and how it ended.
public struct HealthCheckResult: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case required, wanted
        /// green.d / red.d scripts run after the verdict; they never change it.
        case hook
    }

    /// The file name (`10-network.sh`).
    public var name: String
    public var path: String
    public var kind: Kind
    public var exitCode: Int32?
    public var signal: Int32?
    public var timedOut: Bool
    /// Set when the check never ran (the overall timeout had passed, or it could not be started).
    public var notRun: String?
    public var durationSeconds: Double
    public var outputTail: String

    public var passed: Bool { notRun == nil && !timedOut && exitCode == 0 }

    /// "exit 0", "exit 1", "timed out after 5s (killed by signal 15)", "not run: …".
    public var statusDescription: String {
        if let notRun { return "not run: \(notRun)" }
        let ending = exitCode.map { "exit \($0)" } ?? signal.map { "killed by signal \($0)" } ?? "unknown status"
        return timedOut ? "timed out (\(ending))" : ending
    }
}

/// The final state of one app service as the health check last saw it; `problem` nil = fine.
public struct AppHealthFinding: Sendable, Codable, Equatable {
    public var app: String
    /// nil when the app had no service at all.
    public var service: String?
    public var state: String?
    public var health: String?
    public var problem: String?
}

/// The health verdict of one boot or apps update: recorded in the state store, shown by `otter status`.
public struct HealthReport: Sendable, Codable, Equatable {
    public enum Verdict: String, Sendable, Codable { case pass, fail }

    public var verdict: Verdict
    public var startedAt: Date
    public var finishedAt: Date
    /// From start to verdict and hooks, precisely (the two times are whole seconds).
    public var durationSeconds: Double
    /// Required checks, then wanted ones, each directory in name order.
    public var checks: [HealthCheckResult]
    public var apps: [AppHealthFinding]
    /// green.d after a pass, red.d after a fail.
    public var hooks: [HealthCheckResult]
    /// Files skipped (not executable, not a regular file), directories missing are not noted.
    public var notes: [String]
    /// One line for `otter status`.
    public var summary: String
}

extension HealthReport {
    /// The report as stored in the state database: JSON, keys sorted, ISO 8601 times.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public init(jsonText: String) throws {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        self = try decoder.decode(HealthReport.self, from: Data(jsonText.utf8))
    }

    /// For `otter status`: the summary, then a line per check, hook and unhealthy app service.
    public var statusLines: [String] {
        var lines = [summary]
        for check in checks + hooks {
            lines.append("  \(check.kind.rawValue) \(check.name): \(check.statusDescription) (\(Self.seconds(check.durationSeconds)))")
            if !check.passed, let last = check.outputTail.split(separator: "\n").last {
                lines.append("    \(last)")
            }
        }
        for finding in apps where finding.problem != nil {
            lines.append("  \(finding.describe())")
        }
        return lines
    }

    private static func seconds(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)s"
    }
}
