import Foundation
import Testing
@testable import Updater

/// otter-supervisor's checks are separate processes: what the gateway was told travels between
/// them as JSON, and must come back whole (or every check would send system info again).
@Suite struct GatewayReportStateTests {
    @Test func survivesTheFileBetweenChecks() throws {
        var state = GatewayReportState()
        state.sentSystemInfo = true
        state.sentConfig = "# 50-demo.toml\n[device]\n"
        state.sentApps = .init(deviceTime: "2026-12-01T00:00:00Z", ostree: "abc",
                               apps: ["web": .init(uri: "registry/web@sha256:00", state: "running")])
        let back = try JSONDecoder().decode(GatewayReportState.self, from: JSONEncoder().encode(state))
        #expect(back.sentSystemInfo)
        #expect(back.sentConfig == state.sentConfig)
        #expect(back.sentApps == state.sentApps)
        let fresh = try JSONDecoder().decode(GatewayReportState.self, from: JSONEncoder().encode(GatewayReportState()))
        #expect(!fresh.sentSystemInfo && fresh.sentConfig == nil && fresh.sentApps == nil)
    }
}
