/// `AppsBackend` of an OS-only device (`[apps] enabled = false`): no container engine is ever
/// spoken to, nothing runs as an app, and a Target that names apps is refused before anything
/// is downloaded.
public struct DisabledAppsBackend: AppsBackend {
    /// The configuration file that turned apps off (nil: the built-in setting), for the message.
    public let disabledBy: String?

    public init(disabledBy: String? = nil) {
        self.disabledBy = disabledBy
    }

    public func refusal(of apps: [AppRef]) -> String? {
        guard !apps.isEmpty else { return nil }
        let names = apps.map(\.name).joined(separator: ", ")
        let setting = "[apps] enabled = false" + (disabledBy.map { " in \($0)" } ?? "")
        return "the Target names apps (\(names)) but this device runs no apps (\(setting)): a configuration mismatch, "
            + "not a bad Target; publish an OS-only Target for this device, or enable apps and start a container engine"
    }

    public func fetch(_ apps: [AppRef]) async throws { try refuse(apps) }
    public func install(_ apps: [AppRef]) async throws { try refuse(apps) }
    public func start(_ apps: [AppRef]) async throws { try refuse(apps) }
    /// Nothing runs, so there is nothing to stop.
    public func stop(_ apps: [AppRef]) async throws {}
    public func running() async throws -> [AppRef] { [] }
    public func prune(keeping: [AppRef]) async throws {}

    private func refuse(_ apps: [AppRef]) throws {
        if let refusal = refusal(of: apps) { throw UpdaterError(refusal) }
    }
}
