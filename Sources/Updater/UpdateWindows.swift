import FoundationEssentials
import Glibc
import TUF
import ConfigSyntax

/// When the daemon may install, start apps and reboot: `[update] windows = ["Mon-Fri 02:00-04:00", …]`
/// in device-local time (issue #11). Days are `Mon-Fri`, `Sat,Sun`, `Mon` or `*`; a window whose
/// end is not after its start crosses midnight and ends the next day (`Fri 22:00-02:00` ends on
/// Saturday). No windows at all means always open. Fetching is never restricted.
public struct UpdateWindows: Sendable, Equatable {
    public typealias Window = UpdateWindow

    public var windows: [Window]

    public static let always = UpdateWindows(windows: [])

    public init(windows: [Window]) { self.windows = windows }

    /// Parses the configured strings; the error names the bad one and what is expected.
    public init(parsing specs: [String]) throws(UpdaterError) {
        do { windows = try specs.map { spec throws(UpdateWindowError) in try UpdateWindow(parsing: spec) } } catch {
            throw UpdaterError(error.description)
        }
    }

    public var isAlwaysOpen: Bool { windows.isEmpty }

    /// The window `date` falls in (its opening and closing), or the next one to open, at most
    /// eight days ahead. Nil without windows (always open).
    public func current(or date: Date, zone: any LocalTimeZone = SystemTimeZone()) -> (opens: Date, closes: Date, isOpen: Bool)? {
        guard !windows.isEmpty else { return nil }
        let today = zone.local(date)
        var best: (opens: Date, closes: Date, isOpen: Bool)?
        // From yesterday (a window crossing midnight) to a week ahead.
        for offset in -1...8 {
            let day = today.day.adding(days: offset)
            for window in windows where window.days.contains(day.weekday) {
                let opens = zone.instant(day, minutes: window.start)
                let closes = zone.instant(window.crossesMidnight ? day.adding(days: 1) : day, minutes: window.end)
                if opens <= date && date < closes { return (opens, closes, true) }
                if opens > date, best == nil || opens < best!.opens { best = (opens, closes, false) }
            }
        }
        return best
    }

    /// How far the daemon takes `target` at `date`: all the way inside a window or when the Target
    /// says `otter-ignore-windows`, else only the download (nothing installed, started or rebooted).
    public func milestone(for target: Target, at date: Date, zone: any LocalTimeZone = SystemTimeZone()) -> UpdateMilestone {
        target.ignoresWindows == true || isOpen(at: date, zone: zone) ? .complete : .fetched
    }

    /// Inside a window now (always, without windows).
    public func isOpen(at date: Date, zone: any LocalTimeZone = SystemTimeZone()) -> Bool {
        current(or: date, zone: zone)?.isOpen ?? true
    }
}

/// A calendar day.
public struct CivilDay: Sendable, Equatable {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    /// Days since 1970-01-01.
    public var daysSinceEpoch: Int { Int(Timestamp.daysFromCivil(Int64(year), Int64(month), Int64(day))) }

    public init(daysSinceEpoch days: Int) {
        let (y, m, d) = Timestamp.civilFromDays(Int64(days))
        self.init(year: Int(y), month: Int(m), day: Int(d))
    }

    /// 0 = Sunday.
    public var weekday: Int { ((daysSinceEpoch % 7) + 7 + 4) % 7 }

    public func adding(days: Int) -> CivilDay { CivilDay(daysSinceEpoch: daysSinceEpoch + days) }
}

/// Local wall-clock time ↔ instants.
public protocol LocalTimeZone: Sendable {
    /// The local day and minutes after local midnight of `date`.
    func local(_ date: Date) -> (day: CivilDay, minutes: Int)
    /// The instant a local wall-clock time happens. A time skipped by a DST change maps to the
    /// instant the clock jumps past it; a repeated one to its first occurrence.
    func instant(_ day: CivilDay, minutes: Int) -> Date
}

/// The process's zone (`TZ`, `/etc/localtime`) through the C library.
public struct SystemTimeZone: LocalTimeZone {
    public init() {}

    public func local(_ date: Date) -> (day: CivilDay, minutes: Int) {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&time, &parts)
        return (CivilDay(year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday)),
                Int(parts.tm_hour) * 60 + Int(parts.tm_min))
    }

    public func instant(_ day: CivilDay, minutes: Int) -> Date {
        var parts = tm()
        parts.tm_year = Int32(day.year - 1900)
        parts.tm_mon = Int32(day.month - 1)
        parts.tm_mday = Int32(day.day)
        parts.tm_hour = Int32(minutes / 60)
        parts.tm_min = Int32(minutes % 60)
        parts.tm_isdst = -1
        return Date(timeIntervalSince1970: Double(mktime(&parts)))
    }
}

/// The next window, for `otter status`.
public struct WindowStatus: Sendable, Equatable, Encodable {
    /// The configured windows; empty = always open.
    public var windows: [String]
    public var openNow: Bool
    /// The window now open, or the next one.
    public var opens: Date?
    public var closes: Date?

    public init(_ windows: UpdateWindows, at date: Date, zone: any LocalTimeZone = SystemTimeZone()) {
        self.windows = windows.windows.map(\.description)
        let next = windows.current(or: date, zone: zone)
        openNow = next?.isOpen ?? true
        opens = next?.opens
        closes = next?.closes
    }

    private enum Keys: String, CodingKey { case windows, openNow, opens, closes }

    /// `opens`/`closes` as RFC 3339 UTC times.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(windows, forKey: .windows)
        try c.encode(openNow, forKey: .openNow)
        try c.encodeIfPresent(opens.map(rfc3339), forKey: .opens)
        try c.encodeIfPresent(closes.map(rfc3339), forKey: .closes)
    }
}

extension WindowStatus {
    /// One line for `otter status`, in device-local time.
    public var line: String {
        guard let opens, let closes else { return "none configured: the daemon installs whenever an update arrives" }
        let list = windows.joined(separator: ", ")
        return openNow ? "open now until \(localTime(closes)) (\(list))" : "next opens \(localTime(opens)) until \(localTime(closes)) (\(list))"
    }
}

/// `2026-12-01 02:00 CET`, in the process's zone.
func localTime(_ date: Date) -> String { formatTime(date, "%Y-%m-%d %H:%M %Z", local: true) }

/// `2026-12-01T10:00:00Z`.
func rfc3339(_ date: Date) -> String { formatTime(date, "%Y-%m-%dT%H:%M:%SZ", local: false) }

/// strftime of `date` in the process's zone or UTC.
func formatTime(_ date: Date, _ format: String, local: Bool) -> String {
    var time = time_t(date.timeIntervalSince1970.rounded(.down))
    var parts = tm()
    if local { localtime_r(&time, &parts) } else { gmtime_r(&time, &parts) }
    var buffer = [CChar](repeating: 0, count: 64)
    let count = strftime(&buffer, buffer.count, format, &parts)
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
