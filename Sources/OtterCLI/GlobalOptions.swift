import ArgumentParser

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Root of the OSTree system to work on (contains ostree/repo).", valueName: "path"))
    var sysroot: String = "/"

    @Flag(help: "Print machine-readable JSON on stdout instead of text.")
    var json = false

    /// A path inside the sysroot (`/etc/…` → `<sysroot>/etc/…`).
    func path(_ absolute: String) -> String {
        sysroot == "/" ? absolute : (sysroot.hasSuffix("/") ? String(sysroot.dropLast()) : sysroot) + absolute
    }
}
