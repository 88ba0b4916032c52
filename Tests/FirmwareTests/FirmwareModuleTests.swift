import Testing
@testable import Firmware

@Suite struct FirmwareModuleTests {
    @Test func moduleLinks() { _ = Firmware.self }
}
