import Bootloader
import FoundationEssentials

// What the executor needs from the device, each behind a small protocol: the real adapters are
// `OSTreeSystem` and `BootCounterFlags`; tests drive the state machine with fakes. Every
// operation is idempotent, because a restarted executor repeats the step it recorded last.

/// The operating system: OSTree commits and deployments.
public protocol OSBackend: Sendable {
    /// What booted, and the boot id.
    func observe() async throws -> (bootedCommit: String?, bootID: String)
    /// Downloads and verifies the commit (signature checked before content); resumes when
    /// interrupted; a no-op when it is complete already.
    func pull(commit: String) async throws
    /// Deploys the commit so that it boots next (staged on a booted device). A no-op when a
    /// deployment of it boots next already.
    func stage(commit: String) async throws
    /// Makes a deployment of `commit` the one that boots next, dropping a staged or pending
    /// deployment of another commit. A no-op when it boots next already.
    func makeDefault(commit: String) async throws
    /// The commit that boots next.
    func defaultCommit() async throws -> String?
    /// Removes deployments of other commits than `keeping` (never the booted one) and prunes the repo.
    func prune(keeping: [String]) async throws
}

/// Compose apps: the app store and the engine runtime, by app name and digest-pinned URI.
public protocol AppsBackend: Sendable {
    /// Downloads and verifies every app (bundle and images) into the store.
    func fetch(_ apps: [AppRef]) async throws
    /// Loads the images into the engine; running apps are not touched.
    func install(_ apps: [AppRef]) async throws
    /// Starts the apps (`compose up --remove-orphans` under the app's name as project name): an
    /// app already running at that version stays up; one running at another version is replaced
    /// in place by this one.
    func start(_ apps: [AppRef]) async throws
    /// Stops and removes the apps' containers; apps not running are skipped.
    func stop(_ apps: [AppRef]) async throws
    /// The apps running now.
    func running() async throws -> [AppRef]
    /// Removes stored apps and images that none of `keeping` needs.
    func prune(keeping: [AppRef]) async throws
    /// Why a Target with these apps cannot be applied on this device at all (nil: it can). Asked
    /// before an update begins; a refused Target is not marked bad.
    func refusal(of apps: [AppRef]) -> String?
}

extension AppsBackend {
    public func refusal(of apps: [AppRef]) -> String? { nil }
}

/// The bootloader's boot-counting flags.
public protocol BootFlags: Sendable {
    /// Before the reboot into a new deployment: `upgrade_available=1`, `bootcount=0`.
    func arm() throws
    /// After the health check passed on the new deployment: counting stops.
    func markSuccessful() throws
    /// After a rollback: counting stops and the fallback flag is cleared.
    func disarm() throws
    func state() throws -> BootState
}

/// The health verdict the coordinator acts on.
public struct HealthVerdict: Sendable, Equatable {
    public var passed: Bool
    /// One line: which required check or app failed.
    public var summary: String
    /// The full report (the health runner's JSON), stored as the last health report.
    public var reportJSON: String?

    public init(passed: Bool, summary: String, reportJSON: String? = nil) {
        self.passed = passed
        self.summary = summary
        self.reportJSON = reportJSON
    }
}

/// Runs the health check of a Target whose apps were just started.
public protocol HealthChecking: Sendable {
    func check(_ target: Target) async -> HealthVerdict
}

/// One step event, as it is queued for upload and handed to callbacks.
public struct UpdateEvent: Sendable, Equatable, Codable {
    public enum Result: String, Sendable, Codable {
        case started, succeeded, failed
    }
    public var time: Date
    public var correlationID: String
    public var target: String
    public var version: String
    /// The step name (`UpdateStep.rawValue`), or `update` for the update as a whole.
    public var step: String
    public var result: Result
    public var detail: String?

    public init(time: Date, correlationID: String, target: String, version: String, step: String, result: Result, detail: String? = nil) {
        self.time = time
        self.correlationID = correlationID
        self.target = target
        self.version = version
        self.step = step
        self.result = result
        self.detail = detail
    }
}

/// Told of every step event (callbacks, sd_notify STATUS, the log). Events are also queued in
/// the state database by the executor itself.
public protocol UpdateReporting: Sendable {
    func report(_ event: UpdateEvent) async
}

/// Reboots the device (systemd's `reboot`), when the configuration asks for it.
public protocol Rebooting: Sendable {
    func reboot() async throws
}

public protocol UpdateClock: Sendable {
    func now() -> Date
}

public struct SystemClock: UpdateClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// Reports nothing (events are still queued in the state database).
public struct SilentReporter: UpdateReporting {
    public init() {}
    public func report(_ event: UpdateEvent) async {}
}
