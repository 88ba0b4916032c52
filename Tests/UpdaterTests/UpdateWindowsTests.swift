import Foundation
import Testing
@testable import Updater

/// A zone at UTC+`standard` hours that moves to UTC+`standard + 1` at `switchAt` (a spring-forward
/// DST change at local 02:00 → 03:00), so DST cases do not depend on the process's TZ.
struct SpringForwardZone: LocalTimeZone {
    var standard = 1
    /// The UTC instant the clocks jump.
    var switchAt: Date

    func offset(at date: Date) -> Int { (date < switchAt ? standard : standard + 1) * 3600 }

    func local(_ date: Date) -> (day: CivilDay, minutes: Int) {
        let seconds = Int(date.timeIntervalSince1970) + offset(at: date)
        let days = Int((Double(seconds) / 86400).rounded(.down))
        return (CivilDay(daysSinceEpoch: days), (seconds - days * 86400) / 60)
    }

    func instant(_ day: CivilDay, minutes: Int) -> Date {
        let wall = Double(day.daysSinceEpoch * 86400 + minutes * 60)
        let before = Date(timeIntervalSince1970: wall - Double(standard * 3600))
        if before < switchAt { return before }
        let after = Date(timeIntervalSince1970: wall - Double((standard + 1) * 3600))
        // A wall time skipped by the jump happens at the jump.
        return after < switchAt ? switchAt : after
    }
}

struct UTCZone: LocalTimeZone {
    func local(_ date: Date) -> (day: CivilDay, minutes: Int) {
        SpringForwardZone(standard: 0, switchAt: .distantFuture).local(date)
    }
    func instant(_ day: CivilDay, minutes: Int) -> Date {
        SpringForwardZone(standard: 0, switchAt: .distantFuture).instant(day, minutes: minutes)
    }
}

@Suite struct UpdateWindowsTests {
    /// 2026-12-01 is a Tuesday.
    func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test func civilDaysRoundTripAndKnowTheirWeekday() {
        let day = CivilDay(year: 2026, month: 12, day: 1)
        #expect(CivilDay(daysSinceEpoch: day.daysSinceEpoch) == day)
        #expect(day.weekday == 2)  // Tuesday
        #expect(CivilDay(year: 1970, month: 1, day: 1).weekday == 4)
        #expect(CivilDay(year: 2028, month: 2, day: 28).adding(days: 1) == CivilDay(year: 2028, month: 2, day: 29))
    }

    @Test func daysListsRangesAndStarParse() throws {
        let windows = try UpdateWindows(parsing: ["Mon-Fri 02:00-04:00", "Sat,Sun 22:00-06:00", "* 12:00-12:30", "Fri-Mon 01:00-02:00", "wed 00:00-24:00"])
        #expect(windows.windows.map(\.days) == [[1, 2, 3, 4, 5], [6, 0], Set(0...6), [5, 6, 0, 1], [3]])
        #expect(windows.windows[1].crossesMidnight)
        #expect(!windows.windows[0].crossesMidnight)
        #expect(windows.windows[4].end == 24 * 60)
    }

    @Test(arguments: [
        ("Mon-Fri", "a days part and a time range"),
        ("Mon-Fri 2:00-04:00", "\"2:00\" is not a time"),
        ("Mon-Fri 02:00-25:00", "\"25:00\" is not a time"),
        ("Mon-Fri 02:00", "is not a time range"),
        ("Mo 02:00-03:00", "\"Mo\" is not a day"),
        ("Mon-Fri-Sat 02:00-03:00", "is not a day or a day range"),
        ("Mon 03:00-03:00", "opens and closes at the same time"),
        ("Mon 24:00-03:00", "cannot open at 24:00"),
    ])
    func badSyntaxIsRefusedSayingWhatIsWrong(spec: String, expected: String) {
        let error = #expect(throws: UpdaterError.self) { try UpdateWindows(parsing: ["* 01:00-02:00", spec]) }
        let message = error?.message ?? ""
        #expect(message.contains(expected) && message.contains(spec) && message.contains("Mon-Fri 02:00-04:00"), "\(message)")
    }

    @Test func noWindowsMeansAlwaysOpen() {
        #expect(UpdateWindows.always.isOpen(at: Date(), zone: UTCZone()))
        #expect(UpdateWindows.always.current(or: Date(), zone: UTCZone()) == nil)
    }

    @Test func insideAndOutsideAWeekdayWindow() throws {
        let windows = try UpdateWindows(parsing: ["Mon-Fri 02:00-04:00"])
        let zone = UTCZone()
        #expect(windows.isOpen(at: utc("2026-12-01T02:00:00Z"), zone: zone))
        #expect(windows.isOpen(at: utc("2026-12-01T03:59:59Z"), zone: zone))
        #expect(!windows.isOpen(at: utc("2026-12-01T04:00:00Z"), zone: zone))
        #expect(!windows.isOpen(at: utc("2026-12-01T01:59:59Z"), zone: zone))
        // Tuesday 10:00 → Wednesday 02:00.
        let next = try #require(windows.current(or: utc("2026-12-01T10:00:00Z"), zone: zone))
        #expect(!next.isOpen && next.opens == utc("2026-12-02T02:00:00Z") && next.closes == utc("2026-12-02T04:00:00Z"))
        // Friday 05:00 → Monday 02:00 (no weekend window).
        #expect(windows.current(or: utc("2026-12-04T05:00:00Z"), zone: zone)?.opens == utc("2026-12-07T02:00:00Z"))
    }

    @Test func aWindowCrossingMidnightEndsTheNextDay() throws {
        let windows = try UpdateWindows(parsing: ["Sat,Sun 22:00-06:00"])
        let zone = UTCZone()
        // Saturday 2026-12-05 23:00 and Sunday 05:00 (opened Saturday) are inside.
        #expect(windows.isOpen(at: utc("2026-12-05T23:00:00Z"), zone: zone))
        let sunday = try #require(windows.current(or: utc("2026-12-06T05:00:00Z"), zone: zone))
        #expect(sunday.isOpen && sunday.opens == utc("2026-12-05T22:00:00Z") && sunday.closes == utc("2026-12-06T06:00:00Z"))
        // Monday 05:00 is still inside the window Sunday opened; Monday 22:00 is not a window.
        #expect(windows.isOpen(at: utc("2026-12-07T05:00:00Z"), zone: zone))
        #expect(!windows.isOpen(at: utc("2026-12-07T22:30:00Z"), zone: zone))
        #expect(!windows.isOpen(at: utc("2026-12-05T21:59:00Z"), zone: zone))
    }

    @Test func theEarliestOfSeveralWindowsIsNext() throws {
        let windows = try UpdateWindows(parsing: ["Mon-Fri 02:00-04:00", "Tue 12:00-13:00"])
        let next = try #require(windows.current(or: utc("2026-12-01T05:00:00Z"), zone: UTCZone()))
        #expect(next.opens == utc("2026-12-01T12:00:00Z"))
    }

    @Test func windowsFollowLocalTimeAcrossASpringForwardChange() throws {
        // Clocks jump at local Sunday 2027-03-28 02:00 (01:00 UTC) from UTC+1 to UTC+2.
        let zone = SpringForwardZone(switchAt: utc("2027-03-28T01:00:00Z"))
        let windows = try UpdateWindows(parsing: ["* 03:00-04:00"])
        // Saturday's window is at 02:00 UTC, Sunday's at 01:00 UTC (03:00 local in summer time).
        #expect(windows.current(or: utc("2027-03-27T00:00:00Z"), zone: zone)?.opens == utc("2027-03-27T02:00:00Z"))
        #expect(windows.current(or: utc("2027-03-27T05:00:00Z"), zone: zone)?.opens == utc("2027-03-28T01:00:00Z"))
        #expect(windows.current(or: utc("2027-03-28T05:00:00Z"), zone: zone)?.opens == utc("2027-03-29T01:00:00Z"))
        // A window opening at a skipped wall time (02:30) opens at the jump.
        let skipped = try UpdateWindows(parsing: ["Sun 02:30-03:30"])
        let opening = try #require(skipped.current(or: utc("2027-03-27T12:00:00Z"), zone: zone))
        #expect(opening.opens == utc("2027-03-28T01:00:00Z") && opening.closes == utc("2027-03-28T01:30:00Z"))
    }

    @Test func systemZoneAgreesWithUTCWhenTZIsUTC() throws {
        // The process zone is whatever the machine says; only check self-consistency.
        let zone = SystemTimeZone()
        let now = utc("2026-12-01T10:17:00Z")
        let (day, minutes) = zone.local(now)
        #expect(zone.instant(day, minutes: minutes) == now)
    }

    @Test func statusNamesTheNextWindow() throws {
        let windows = try UpdateWindows(parsing: ["Mon-Fri 02:00-04:00"])
        let status = WindowStatus(windows, at: utc("2026-12-01T10:00:00Z"), zone: UTCZone())
        #expect(!status.openNow && status.opens == utc("2026-12-02T02:00:00Z") && status.windows == ["Mon-Fri 02:00-04:00"])
        #expect(WindowStatus(.always, at: Date()).openNow)
    }
}
