import ArgumentParser
import Updater

/// `otter simulate-reboot`: for demos and tests on a throw-away sysroot only.
struct SimulateRebootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate-reboot",
        abstract: "TEST ONLY: boot a throw-away sysroot as the bootloader would (boot counting included).",
        discussion: """
        Plays the LmP boot script against the configured bootloader environment and writes the \
        booted commit to the file named by OTTER_SIMULATED_BOOT_FILE, which every otter command \
        then reads instead of /proc/cmdline. Never use it on a device.
        """,
        shouldDisplay: false)

    @OptionGroup var device: DeviceOptions

    @Option(help: "A commit that never reaches user space (a kernel that panics); repeat.")
    var failing: [String] = []

    func run() async throws {
        try await reportingErrors {
            guard let file = DeviceAgent.Options().simulatedBootFile else {
                throw ValidationError("set OTTER_SIMULATED_BOOT_FILE to the file otter reads the simulated boot from")
            }
            let configuration = try device.configuration()
            guard let counter = try configuration.bootloader.bootCounter() else {
                throw ValidationError("[bootloader] backend is none: nothing counts boots to simulate")
            }
            let booted = try await SimulatedBoot(file: file).reboot(sysroot: configuration.paths.sysroot, flags: BootCounterFlags(counter),
                                                                    failingCommits: Set(failing))
            print(booted)
        }
    }
}
