/// One update window as operators write it: `DAYS HH:MM-HH:MM` in device-local time, e.g.
/// `Mon-Fri 02:00-04:00`, `Sat,Sun 22:00-06:00`, `* 03:00-04:00`. Days are `Mon`…`Sun` (any
/// case), ranges run forward through the week (`Fri-Mon`), `*` is every day; a window whose end
/// is not after its start crosses midnight and belongs to the day it opens on. The one parser of
/// the device (which installs only inside a window) and the factory (which checks windows
/// before it hands them out), so the factory never sends a window the device would refuse.
public struct UpdateWindow: Sendable, Equatable, CustomStringConvertible {
    /// Weekdays on which the window opens, 0 = Sunday … 6 = Saturday.
    public var days: Set<Int>
    /// Minutes after local midnight.
    public var start: Int
    public var end: Int
    public var description: String

    public var crossesMidnight: Bool { end <= start }

    public init(days: Set<Int>, start: Int, end: Int, description: String) {
        self.days = days
        self.start = start
        self.end = end
        self.description = description
    }

    /// Parses one window; the error names the bad part and what is expected.
    public init(parsing spec: String) throws(UpdateWindowError) {
        self = try Self.window(spec)
    }

    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    static func window(_ spec: String) throws(UpdateWindowError) -> UpdateWindow {
        func fail(_ why: String) -> UpdateWindowError {
            UpdateWindowError("update window \"\(spec)\": \(why); expected DAYS HH:MM-HH:MM such as \"Mon-Fri 02:00-04:00\", \"Sat,Sun 22:00-06:00\" or \"* 03:00-04:00\"")
        }
        let parts = spec.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2 else { throw fail("it must be a days part and a time range separated by a space") }
        var days = Set<Int>()
        if parts[0] == "*" {
            days = Set(0...6)
        } else {
            for item in parts[0].split(separator: ",", omittingEmptySubsequences: false) {
                let range = item.split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(range.count) else { throw fail("\"\(item)\" is not a day or a day range") }
                var bounds: [Int] = []
                for name in range {
                    guard let day = dayNames.firstIndex(of: name.lowercased()) else {
                        throw fail("\"\(name)\" is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)")
                    }
                    bounds.append(day)
                }
                // Ranges run forward through the week: Fri-Mon is Fri, Sat, Sun, Mon.
                var day = bounds[0]
                days.insert(day)
                while day != bounds.last! {
                    day = (day + 1) % 7
                    days.insert(day)
                }
            }
        }
        let times = parts[1].split(separator: "-", omittingEmptySubsequences: false)
        guard times.count == 2 else { throw fail("\"\(parts[1])\" is not a time range HH:MM-HH:MM") }
        func minutes(_ text: Substring) throws(UpdateWindowError) -> Int {
            let hm = text.split(separator: ":", omittingEmptySubsequences: false)
            guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]),
                  (0...24).contains(h), (0...59).contains(m), h < 24 || m == 0 else {
                throw fail("\"\(text)\" is not a time between 00:00 and 24:00")
            }
            return h * 60 + m
        }
        let start = try minutes(times[0]), end = try minutes(times[1])
        guard start != end else { throw fail("it opens and closes at the same time; for a whole day write 00:00-24:00") }
        guard start < 24 * 60 else { throw fail("a window cannot open at 24:00") }
        return UpdateWindow(days: days, start: start, end: end, description: "\(parts[0]) \(parts[1])")
    }

}

/// Why an update window does not parse.
public struct UpdateWindowError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}
