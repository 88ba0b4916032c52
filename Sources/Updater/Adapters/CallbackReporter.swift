import SystemdNotify

/// Tells the outside world about each step: the LmP callback program (REFERENCE §8) and
/// systemd's STATUS line.
public struct CallbackReporter: UpdateReporting {
    public let callbacks: CallbackRunner
    public let notifier: SystemdNotifier
    /// The Target the device runs now (the state database's current one), for `CURRENT_TARGET`
    /// and `CURRENT_TARGET_NAME`; read at each event, since an update changes it.
    public let current: @Sendable () -> CallbackTarget?

    public init(callbacks: CallbackRunner, notifier: SystemdNotifier, current: @escaping @Sendable () -> CallbackTarget? = { nil }) {
        self.callbacks = callbacks
        self.notifier = notifier
        self.current = current
    }

    public func report(_ event: UpdateEvent) async {
        try? notifier.status("\(event.step) \(event.result.rawValue): \(event.target)")
        guard let (message, result) = Self.callback(for: event) else { return }
        let target = CallbackTarget(name: event.target, version: event.version)
        await callbacks.run(message, result: result, current: current(), installing: target)
    }

    /// The LmP callback a step event maps to, if any.
    static func callback(for event: UpdateEvent) -> (CallbackEvent, CallbackResult?)? {
        let outcome: CallbackResult? = switch event.result {
        case .started: nil
        case .succeeded: .ok
        case .failed: .failed(reason: event.detail ?? event.step)
        }
        switch (event.step, event.result) {
        case ("fetch", .started): return (.downloadPre, nil)
        case ("fetch", _): return (.downloadPost, outcome)
        case ("install-apps", .started): return (.installPre, nil)
        case ("reboot", .started): return (.installPost, .needsCompletion)
        case ("start-apps", .started): return (.installFinalPre, nil)
        case ("commit", .succeeded): return (.installPost, .ok)
        case ("mark-bad", _): return (.installPost, .failed(reason: event.detail ?? "rolled back"))
        default: return nil
        }
    }
}
