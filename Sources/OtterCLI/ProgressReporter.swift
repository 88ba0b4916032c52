import OSTree
#if canImport(Glibc)
import Glibc
#endif

/// Renders pull progress on stderr: a redrawn bar on a terminal, one line per second otherwise,
/// nothing with `--json` (the result document is the output there).
final class ProgressReporter: @unchecked Sendable {
    private let quiet: Bool
    private let terminal = stderrIsTerminal
    private var lastLine = ContinuousClock.now - .seconds(2)
    private var drewBar = false

    init(quiet: Bool) { self.quiet = quiet }

    func update(_ p: PullProgress) {
        guard due(done: p.phase == .done) else { return }
        var parts: [String] = []
        switch p.phase {
        case .commit: parts.append("fetching commit and signatures")
        case .content, .done:
            if p.deltaPartsTotal > 0 { parts.append("delta parts \(p.deltaPartsFetched)/\(p.deltaPartsTotal)") }
            parts.append("objects \(p.objectsFetched)/\(p.objectsRequested)")
        }
        var transferred = formatBytes(p.bytesTransferred)
        if let total = p.expectedBytes { transferred += " of " + formatBytes(total) }
        parts.append(transferred)
        parts.append(formatBytes(UInt64(p.bytesPerSecond)) + "/s")
        if let eta = p.etaSeconds, p.phase != .done { parts.append("ETA " + formatDuration(eta)) }
        draw(fraction: p.fraction, text: parts.joined(separator: ", "), done: p.phase == .done, label: "pull")
    }

    /// Draws one progress state: the bar on a terminal, else a `label: text` line.
    func draw(fraction: Double?, text: String, done: Bool, label: String) {
        if terminal {
            let width = 24
            let filled = Int((fraction ?? 0) * Double(width))
            let bar = "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "]"
            writeStderr("\r\u{1B}[K" + bar + " " + text)
            drewBar = true
            if done { writeStderr("\n"); drewBar = false }
        } else {
            writeStderr("\(label): " + text + "\n")
        }
    }

    /// Whether a state is worth drawing now: always on a terminal, once a second otherwise.
    func due(done: Bool) -> Bool {
        guard !quiet else { return false }
        let now = ContinuousClock.now
        if !terminal && now - lastLine < .seconds(1) && !done { return false }
        lastLine = now
        return true
    }

    /// Ends a bar left on the line (after an error).
    func finish() {
        if drewBar { writeStderr("\n") }
    }
}
