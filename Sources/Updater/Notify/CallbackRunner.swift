import ConfigSyntax
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FoundationEssentials

/// The steps at which the callback program runs, named as aktualizr-lite names them (`MESSAGE`),
/// so an LmP `callback-handler` works unchanged (REFERENCE.md §8).
public enum CallbackEvent: String, Sendable, CaseIterable, Codable {
    case checkForUpdatePre = "check-for-update-pre"
    case checkForUpdatePost = "check-for-update-post"
    case downloadPre = "download-pre"
    case downloadPost = "download-post"
    case installPre = "install-pre"
    case installPost = "install-post"
    /// After the reboot into a new OS, before its apps start and the health check runs.
    case installFinalPre = "install-final-pre"
}

/// The `RESULT` of a `-post` step.
public enum CallbackResult: Sendable, Equatable {
    case ok
    case failed(reason: String)
    /// install-post of a new OS: a reboot finishes the install.
    case needsCompletion

    public var environmentValue: String {
        switch self {
        case .ok: "OK"
        case let .failed(reason): "FAILED: \(reason)"
        case .needsCompletion: "NEEDS_COMPLETION"
        }
    }
}

/// A Target as callbacks see it: its TUF target name and its `custom.version`.
public struct CallbackTarget: Sendable, Equatable {
    public var name: String
    public var version: String

    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }
}

/// Runs the configured callback program (`[callbacks] program`) with `MESSAGE`, `RESULT`,
/// `CURRENT_TARGET` (the current-target TOML file), `CURRENT_TARGET_NAME` and
/// `INSTALL_TARGET_NAME`. A callback informs; it never decides: a missing, failing or hanging
/// program is logged and the update goes on, so `run` does not throw.
public struct CallbackRunner: Sendable {
    /// nil: no callback configured, every call is a no-op.
    public var program: String?
    public var currentTargetFile: String
    public var timeout: Duration
    /// What the callback inherits besides its own variables (default: Otter's environment).
    public var baseEnvironment: [String: String]
    public var log: @Sendable (String) -> Void

    public init(program: String?, currentTargetFile: String, timeout: Duration = .seconds(60),
                baseEnvironment: [String: String] = ProcessInfo.processInfo.environment,
                log: @escaping @Sendable (String) -> Void = logToStandardError) {
        self.program = program
        self.currentTargetFile = currentTargetFile
        self.timeout = timeout
        self.baseEnvironment = baseEnvironment
        self.log = log
    }

    public init(configuration: OtterConfiguration, log: @escaping @Sendable (String) -> Void = logToStandardError) {
        self.init(program: configuration.callbacks.program, currentTargetFile: configuration.paths.currentTargetFile,
                  timeout: configuration.callbacks.timeout, log: log)
    }

    /// Runs the callback for `event`. When `current` is given the current-target file is rewritten
    /// first, so `CURRENT_TARGET` always describes it. Returns the program's outcome, or nil when
    /// nothing ran (no program configured, or it could not be started; that is logged).
    @discardableResult
    public func run(_ event: CallbackEvent, result: CallbackResult? = nil, current: CallbackTarget? = nil,
                    installing: CallbackTarget? = nil) async -> ExecutableRunner.Outcome? {
        guard let program else { return nil }
        if let current {
            do { try writeCurrentTarget(current) } catch { log("callback \(event.rawValue): \(error)") }
        }
        // Our own environment minus any callback variable inherited from whoever started Otter,
        // so a pre step never shows a stale RESULT or target name.
        var variables = baseEnvironment.filter { !Self.callbackVariables.contains($0.key) }
        variables.merge(environment(event, result: result, current: current, installing: installing)) { $1 }
        let runner = ExecutableRunner(timeout: timeout, killGrace: .seconds(2), outputTailBytes: 4096,
                                      environment: variables, inheritEnvironment: false)
        do {
            let outcome = try await runner.run([program])
            if !outcome.succeeded {
                let output = outcome.outputTail.isEmpty ? "" : "; its output ends with: \(outcome.outputTail.suffix(400))"
                log("callback \(program) \(event.rawValue): \(outcome.statusDescription) (ignored, the update goes on)\(output)")
            }
            return outcome
        } catch {
            log("callback \(event.rawValue): \(error) (ignored, the update goes on)")
            return nil
        }
    }

    static let callbackVariables: Set<String> = ["MESSAGE", "RESULT", "CURRENT_TARGET", "CURRENT_TARGET_NAME", "INSTALL_TARGET_NAME"]

    /// The variables a callback handler reads.
    public func environment(_ event: CallbackEvent, result: CallbackResult?, current: CallbackTarget?,
                            installing: CallbackTarget?) -> [String: String] {
        var variables = ["MESSAGE": event.rawValue, "CURRENT_TARGET": currentTargetFile]
        if let result { variables["RESULT"] = result.environmentValue }
        if let current { variables["CURRENT_TARGET_NAME"] = current.name }
        if let installing { variables["INSTALL_TARGET_NAME"] = installing.name }
        return variables
    }

    /// Writes the current-target file as fioconfig reads it (`TARGET_NAME`, `CUSTOM_VERSION`),
    /// through a temporary file and a rename so a reader never sees half of it.
    public func writeCurrentTarget(_ target: CallbackTarget) throws(CallbackRunnerError) {
        let text = "TARGET_NAME = \(tomlBasicString(target.name))\nCUSTOM_VERSION = \(tomlBasicString(target.version))\n"
        let temporary = currentTargetFile + ".tmp"
        guard let stream = fopen(temporary, "w") else {
            throw .cannotWrite(path: temporary, reason: String(cString: strerror(errno)))
        }
        let written = fputs(text, stream) >= 0
        let closed = fclose(stream) == 0
        guard written, closed else {
            unlink(temporary)
            throw .cannotWrite(path: temporary, reason: String(cString: strerror(errno)))
        }
        guard rename(temporary, currentTargetFile) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw .cannotWrite(path: currentTargetFile, reason: reason)
        }
    }

}

public enum CallbackRunnerError: Error, Equatable, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotWrite(path, reason):
            return "cannot write the current-target file \(path) for callbacks: \(reason); check [paths] current_target"
        }
    }
}
