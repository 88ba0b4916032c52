/// The config files a gateway hands a device (`GET /config`), as the factory writes them and
/// the device applies them into its own conf.d layer: one rule for both sides.
public enum DeviceConfigFiles {
    /// A plain file name ending in `.toml`: no directory, not hidden, at most 200 bytes.
    public static func isPlainName(_ name: String) -> Bool {
        name.hasSuffix(".toml") && !name.hasPrefix(".") && !name.contains("/") && name.utf8.count <= 200
    }

    /// `section.key` settings a gateway-delivered fragment may hold: schedules, names and
    /// limits. Settings that name programs, paths, servers, certificates or the bootloader stay
    /// with the image and /etc.
    public static let gatewaySettable: Set<String> = [
        "update.windows", "update.poll_interval", "update.poll_jitter", "update.auto_reboot",
        "device.name", "device.tag",
        "health.timeout", "health.per_check_timeout",
        "servers.cert_renew_days", "apps.reserve_bytes",
    ]
}
