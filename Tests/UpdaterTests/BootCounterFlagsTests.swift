import Bootloader
import Foundation
import Testing
import TestSupport
@testable import Updater

@Suite struct BootCounterFlagsTests {
    @Test(arguments: [BootCountingScheme.upgradeAvailable, .greenboot])
    func disarmAfterAFallbackStopsCountingAndClearsTheFallback(scheme: BootCountingScheme) throws {
        let dir = TempDir("otter-flags")
        try sh(["grub-editenv", dir.path + "/grubenv", "create"])
        let env = try BootloaderBackend.grub.environment(path: dir.path + "/grubenv")
        let flags = BootCounterFlags(BootCounter(environment: env, scheme: scheme))
        try flags.arm()
        #expect(try flags.state().upgradeAvailable)
        // What the boot script does when it gives up.
        switch scheme {
        case .upgradeAvailable: try env.apply(["bootcount": "4", "bootlimit": "3", "rollback": "1", "upgrade_available": "0"])
        case .greenboot: try env.apply(["boot_counter": "-1"])
        }
        #expect(try flags.state().rollback)
        try flags.disarm()
        let state = try flags.state()
        #expect(!state.upgradeAvailable && !state.rollback && !state.bootLimitExceeded, "\(state)")
    }

    @Test func markSuccessfulClearsTheTrial() throws {
        let dir = TempDir("otter-flags")
        let flags = BootCounterFlags(BootCounter(environment: PlainFileEnvironment(path: dir.path + "/env")))
        try flags.arm()
        try flags.markSuccessful()
        #expect(try !flags.state().upgradeAvailable && flags.state().bootCount == 0)
    }
}
