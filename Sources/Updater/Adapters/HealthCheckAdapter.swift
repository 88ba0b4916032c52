/// `HealthChecking` over the health runner: the check directories plus every service of the
/// Target's apps running (and healthy where a HEALTHCHECK exists).
public struct HealthCheckAdapter: HealthChecking {
    public let runner: HealthCheckRunner
    /// The apps' service states; nil when the device runs no apps.
    public let serviceStates: (@Sendable ([String]) async throws -> [AppServiceState])?

    public init(runner: HealthCheckRunner, serviceStates: (@Sendable ([String]) async throws -> [AppServiceState])?) {
        self.runner = runner
        self.serviceStates = serviceStates
    }

    public func check(_ target: Target) async -> HealthVerdict {
        let names = target.apps.map(\.name)
        var appStates: (@Sendable () async throws -> [AppServiceState])?
        if let read = serviceStates {
            appStates = { try await read(names) }
        }
        let report: HealthReport = await runner.run(apps: names, appStates: appStates)
        return HealthVerdict(passed: report.verdict == .pass, summary: report.summary, reportJSON: try? report.jsonText())
    }
}
