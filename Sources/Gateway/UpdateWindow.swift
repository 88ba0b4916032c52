import Factory

/// An update window in device-local time: `<days> HH:MM-HH:MM`, days `Mon-Fri`, `Sat,Sun`,
/// `Mon` or `*`; the end may be before the start (the window crosses midnight and belongs to
/// the day it starts on). Devices install, start apps and reboot only inside one.
public struct UpdateWindow: Sendable, Equatable, CustomStringConvertible {
    static let dayNames = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// 0 = Monday … 6 = Sunday.
    public var days: Set<Int>
    /// Minutes after midnight.
    public var start: Int
    public var end: Int
    public let description: String

    public init(parsing text: String) throws(FactoryError) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        let usage = "write <days> HH:MM-HH:MM, days Mon-Fri, Sat,Sun, Mon or *; e.g. \"Mon-Fri 02:00-04:00\""
        guard parts.count == 2 else { throw FactoryError("update window \"\(text)\" is not a window; \(usage)") }
        var days = Set<Int>()
        if parts[0] == "*" {
            days = Set(0..<7)
        } else {
            for item in parts[0].split(separator: ",", omittingEmptySubsequences: false) {
                let range = item.split(separator: "-", omittingEmptySubsequences: false)
                guard (1...2).contains(range.count),
                      let first = Self.dayNames.firstIndex(of: String(range[0])),
                      let last = Self.dayNames.firstIndex(of: String(range[range.count - 1])) else {
                    throw FactoryError("update window \"\(text)\": \"\(item)\" is not a day or day range; \(usage)")
                }
                var day = first
                while true {
                    days.insert(day)
                    if day == last { break }
                    day = (day + 1) % 7
                }
            }
        }
        let times = parts[1].split(separator: "-", omittingEmptySubsequences: false)
        guard times.count == 2, let start = Self.minutes(times[0]), let end = Self.minutes(times[1]) else {
            throw FactoryError("update window \"\(text)\": \"\(parts[1])\" is not HH:MM-HH:MM; \(usage)")
        }
        guard start != end else { throw FactoryError("update window \"\(text)\" is empty (it starts when it ends)") }
        self.days = days
        self.start = start
        self.end = end
        description = "\(parts[0]) \(parts[1])"
    }

    static func minutes(_ text: Substring) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              let hours = Int(parts[0]), let minutes = Int(parts[1]), hours < 24, minutes < 60 else { return nil }
        return hours * 60 + minutes
    }

    /// Whether `minute` of `weekday` (0 = Monday) is inside the window.
    public func contains(weekday: Int, minute: Int) -> Bool {
        if start < end { return days.contains(weekday) && minute >= start && minute < end }
        return (days.contains(weekday) && minute >= start) || (days.contains((weekday + 6) % 7) && minute < end)
    }

    /// Parses every window, failing on the first bad one.
    public static func validated(_ texts: [String]) throws(FactoryError) -> [String] {
        var result: [String] = []
        for text in texts { result.append(try UpdateWindow(parsing: text).description) }
        return result
    }

    /// Windows are stored newline-separated.
    static func encodeList(_ windows: [String]) -> String { windows.joined(separator: "\n") }
    static func decodeList(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    /// The device's config entry (fioconfig format): `[update]\nwindows = ["…", …]\n`.
    public static let configFileName = "otter-update-windows.toml"

    public static func toml(_ windows: [String]) -> String {
        "[update]\nwindows = [" + windows.map { "\"\($0)\"" }.joined(separator: ", ") + "]\n"
    }
}
