import Foundation
import TestSupport

/// The `otter` executable next to the test bundle (`swift build` builds it; scripts/test runs
/// `swift build` before `swift test`), or $OTTER_BIN.
var otterBinary: String {
    if let path = ProcessInfo.processInfo.environment["OTTER_BIN"] { return path }
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    return bundle.appendingPathComponent("otter").path
}

/// Runs `otter ARGS`; returns stdout, stderr and the exit status.
func otter(_ args: [String]) throws -> (out: String, err: String, status: Int32) {
    try runProcess(otterBinary, args)
}

/// Runs a command as if the sysroot were booted into `deployment`: in a private mount and PID
/// namespace, chrooted into the deployment with the sysroot at /sysroot, /run/ostree-booted
/// present, and the host's /usr, /opt and / (at /host) bound in so host binaries run there.
/// This is what lets staged deployments and `ostree admin finalize-staged` run in a test.
func runBooted(sysroot: String, deployment: String, _ command: [String]) throws -> String {
    let d = deployment
    let script = """
    set -e
    mount --bind '\(d)' '\(d)'
    mount --bind '\(sysroot)' '\(d)/sysroot'
    mount --bind '\(sysroot)/boot' '\(d)/boot'
    mount --bind /usr '\(d)/usr'
    mount --bind /opt '\(d)/opt'
    mount --bind / '\(d)/host'
    mount -t tmpfs tmpfs '\(d)/run'
    touch '\(d)/run/ostree-booted'
    mount -t proc proc '\(d)/proc'
    mount --bind /dev '\(d)/dev'
    mount -t tmpfs tmpfs '\(d)/tmp'
    exec chroot '\(d)' "$@"
    """
    return try sh(["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-c", script, "booted"] + command)
}
