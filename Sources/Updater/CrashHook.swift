#if canImport(Glibc)
import Glibc
#endif

/// Test-only fault injection for the crash matrix: stops the process at a named step.
///
/// `OTTER_CRASH_AT=<step>` exits with status 137 (as `kill -9` leaves it, without running any
/// cleanup) right after the step is recorded in the state database and *before* its side
/// effect; `OTTER_CRASH_AT=<step>:after` exits right after the side effect, before the next step
/// is recorded. Step names are `UpdateStep` raw values (`stage-os`, `health`, `restore-apps`, …).
public struct CrashHook: Sendable {
    public enum Point: String, Sendable {
        case beforeEffect = "before"
        case afterEffect = "after"
    }

    private let body: @Sendable (UpdateStep, Point) throws -> Void

    public init(_ body: @escaping @Sendable (UpdateStep, Point) throws -> Void) {
        self.body = body
    }

    public static let none = CrashHook { _, _ in }

    /// Reads `OTTER_CRASH_AT` from the environment; no variable, no hook. `exit` is how the
    /// process dies (tests replace it).
    public static func fromEnvironment(_ environment: [String: String],
                                       exit: @escaping @Sendable (Int32) throws -> Void = { _exit($0) }) -> CrashHook {
        guard let spec = environment["OTTER_CRASH_AT"], let (step, point) = parse(spec) else { return .none }
        return CrashHook { at, when in
            if at == step && when == point { try exit(137) }
        }
    }

    /// `stage-os` or `stage-os:before` or `stage-os:after`.
    public static func parse(_ spec: String) -> (UpdateStep, Point)? {
        let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
        guard let step = parts.first.flatMap(UpdateStep.init(rawValue:)) else { return nil }
        guard parts.count == 2 else { return (step, .beforeEffect) }
        guard let point = Point(rawValue: parts[1]) else { return nil }
        return (step, point)
    }

    func check(_ step: UpdateStep, _ point: Point) throws {
        try body(step, point)
    }
}
