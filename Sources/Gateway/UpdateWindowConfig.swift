import Factory
import ConfigSyntax

/// Update windows on the factory side: checked with the device's own parser before they are
/// stored, stored newline-separated, and handed to devices in their config (`GET /config`).
public enum UpdateWindowConfig {
    /// Parses every window, failing on the first bad one (the device would refuse it too).
    public static func validated(_ texts: [String]) throws(FactoryError) -> [String] {
        var result: [String] = []
        for text in texts {
            do { result.append(try UpdateWindow(parsing: text).description) } catch { throw FactoryError(error.description) }
        }
        return result
    }

    /// Windows are stored newline-separated.
    static func encodeList(_ windows: [String]) -> String { windows.joined(separator: "\n") }
    static func decodeList(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }

    /// The device's config entry (fioconfig format): `[update]\nwindows = ["…", …]\n`.
    public static let configFileName = "otter-update-windows.toml"

    public static func toml(_ windows: [String]) -> String {
        "[update]\nwindows = [" + windows.map(tomlBasicString).joined(separator: ", ") + "]\n"
    }
}
