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
        guard !quiet else { return }
        let now = ContinuousClock.now
        if !terminal && now - lastLine < .seconds(1) && p.phase != .done { return }
        lastLine = now
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
        let text = parts.joined(separator: ", ")
        if terminal {
            let width = 24
            let filled = Int((p.fraction ?? 0) * Double(width))
            let bar = "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "]"
            writeStderr("\r\u{1B}[K" + bar + " " + text)
            drewBar = true
            if p.phase == .done { writeStderr("\n"); drewBar = false }
        } else {
            writeStderr("pull: " + text + "\n")
        }
    }

    /// Ends a bar left on the line (after an error).
    func finish() {
        if drewBar { writeStderr("\n") }
    }
}
