import Foundation
import Testing
import TestSupport

/// Device reports over mTLS: stored per device, schema-checked, and shown by the fleet view.
@Suite(.serialized) struct GatewayReportsTests {
    static func events(correlation: String = "qemu-x86-lmp-2-1", type: String = "EcuInstallationCompleted",
                       success: Bool = false, details: String = "health check failed; rollback to qemu-x86-lmp-1") -> String {
        """
        [{"id":"\(UUID().uuidString)","deviceTime":"2026-12-01T10:00:00Z","eventType":{"id":"EcuDownloadStarted","version":0},
          "event":{"correlationId":"\(correlation)","targetName":"qemu-x86-lmp-2","version":"2"}},
         {"id":"\(UUID().uuidString)","deviceTime":"2026-12-01T10:05:00.123+01:00","eventType":{"id":"\(type)","version":2},
          "event":{"correlationId":"\(correlation)","targetName":"qemu-x86-lmp-2","version":"2","success":\(success),
                   "details":"\(details)"}}]
        """
    }

    static let appsStates = """
    {"deviceTime":"2026-12-01T10:06:00Z","ostree":"\(String(repeating: "cd", count: 32))",
     "apps":{"shellhttpd":{"uri":"127.0.0.1:5000/f/shellhttpd@sha256:\(String(repeating: "ab", count: 32))","state":"running",
       "services":[{"name":"web","hash":"h","state":"running","status":"Up","health":"healthy","image":"i"}]}}}
    """

    @Test func reportsAreStoredPerDeviceAndShownByTheFleetView() throws {
        let gateway = try GatewayFixture()
        let device = try gateway.device()
        let json = ["Content-Type": "application/json"]
        let tags = ["x-ats-tags": "main", "x-ats-target": "qemu-x86-lmp-1"]
        #expect(try gateway.curl("/events", as: device, method: "POST", body: Self.events(), headers: json.merging(tags) { $1 }).status == 200)
        #expect(try gateway.curl("/apps-states", as: device, method: "POST", body: Self.appsStates, headers: json).status == 200)
        #expect(try gateway.curl("/system_info", as: device, method: "PUT", body: #"{"id":"otter","class":"system","size":1.5}"#, headers: json).status == 200)
        #expect(try gateway.curl("/system_info/network", as: device, method: "PUT",
                                 body: #"{"hostname":"dev1","mac":"52:54:00:12:34:56","local_ipv4":"10.0.2.15"}"#, headers: json).status == 200)
        #expect(try gateway.curl("/system_info/config", as: device, method: "PUT", body: "[device]\ntag = \"main\"\n",
                                 headers: ["Content-Type": "application/toml"]).status == 200)
        #expect(try gateway.curl("/config", as: device).status == 204)

        let document = try gateway.json(try gateway.curl("/device", as: device).body) as! [String: Any]
        #expect(document["uuid"] as? String == device.uuid)
        #expect(document["target_name"] as? String == "qemu-x86-lmp-1")
        #expect(document["tag"] as? String == "main")
        #expect(document["is_prod"] as? Bool == false)
        #expect(document["factory"] as? String == GatewayFixture.factoryName)

        let shown = try gateway.json(try gateway.factoryCLI(["devices", "show", device.uuid, "--json"])) as! [String: Any]
        let events = shown["events"] as! [[String: Any]]
        #expect(events.count == 2)
        #expect(Set(events.compactMap { $0["type"] as? String }) == ["EcuDownloadStarted", "EcuInstallationCompleted"])
        #expect(events.contains { $0["success"] as? Bool == false && ($0["details"] as? String)?.contains("rollback") == true })
        let states = shown["appsStates"] as! [String: Any]
        #expect(states["deviceTime"] as? String == "2026-12-01T10:06:00Z")
        #expect((states["appsJSON"] as? String)?.contains("healthy") == true)
        let info = shown["systemInfo"] as! [String: String]
        #expect(info["network"]?.contains("10.0.2.15") == true)
        #expect(info["config"]?.contains("tag = \"main\"") == true)
        #expect(info["hardware"]?.contains("system") == true)

        let text = try gateway.factoryCLI(["devices", "show", device.uuid])
        #expect(text.contains("EcuInstallationCompleted FAILED"))

        // Fleet views.
        let other = try gateway.device()
        #expect(try gateway.curl("/device", as: other, headers: ["x-ats-tags": "beta", "x-ats-target": "qemu-x86-lmp-2"]).status == 200)
        let listed = try gateway.json(try gateway.factoryCLI(["devices", "list", "--tag", "main", "--json"])) as! [[String: Any]]
        #expect(listed.map { $0["uuid"] as? String } == [device.uuid])
        let all = try gateway.json(try gateway.factoryCLI(["devices", "list", "--json"])) as! [[String: Any]]
        #expect(all.count == 2)
        let status = try gateway.json(try gateway.factoryCLI(["status", "--json"])) as! [String: Any]
        #expect(status["devices"] as? Int == 2)
        #expect(status["byTarget"] as? [String: Int] == ["qemu-x86-lmp-1": 1, "qemu-x86-lmp-2": 1])
        #expect(status["byTag"] as? [String: Int] == ["main": 1, "beta": 1])
        #expect(status["failed"] as? Int == 1)
        #expect(status["rolledBack"] as? Int == 1)

        // A resent event (same id) is stored once.
        let resend = Self.events(success: true, details: "ok")
        #expect(try gateway.curl("/events", as: device, method: "POST", body: resend).status == 200)
        #expect(try gateway.curl("/events", as: device, method: "POST", body: resend).status == 200)
        let again = try gateway.json(try gateway.factoryCLI(["devices", "show", device.uuid, "--json"])) as! [String: Any]
        #expect((again["events"] as! [Any]).count == 4)
        let healed = try gateway.json(try gateway.factoryCLI(["status", "--json"])) as! [String: Any]
        #expect(healed["failed"] as? Int == 0)
    }

    @Test func malformedHugeAndUnknownReportsAreRefusedAndNothingIsStored() throws {
        let gateway = try GatewayFixture()
        let device = try gateway.device()
        let cases: [(String, String, String, Int)] = [
            ("/events", "POST", "[{not json", 400),
            ("/events", "POST", #"{"id":"x"}"#, 400),
            ("/events", "POST", Self.events(type: "EcuExploded"), 400),
            ("/events", "POST", Self.events(correlation: "bad id with spaces"), 400),
            ("/events", "POST", Self.events().replacingOccurrences(of: "\"targetName\"", with: "\"surprise\":1,\"targetName\""), 400),
            ("/events", "POST", Self.events().replacingOccurrences(of: "2026-12-01T10:00:00Z", with: "yesterday"), 400),
            ("/apps-states", "POST", #"{"apps":{}}"#, 400),
            ("/apps-states", "POST", #"{"deviceTime":"2026-12-01T10:06:00Z","apps":[]}"#, 400),
            ("/apps-states", "POST", "nope", 400),
            ("/system_info", "PUT", "{", 400),
            ("/system_info/network", "PUT", #"{"hostname":5}"#, 400),
        ]
        for (path, method, body, expected) in cases {
            let result = try gateway.curl(path, as: device, method: method, body: body, headers: ["Content-Type": "application/json"])
            #expect(result.status == expected, "\(method) \(path) \(body.prefix(60)): \(result.status.map(String.init) ?? "none") \(result.body)")
            #expect(result.body.contains("message") || result.body.contains("error"), "\(path): a 4xx says why: \(result.body)")
        }
        let unknownType = try gateway.curl("/events", as: device, method: "POST", body: Self.events(type: "EcuExploded"))
        #expect(unknownType.body.contains("EcuExploded"))

        // More than the limits: 413 before anything is parsed or stored.
        let huge = gateway.dir + "/huge.json"
        try Data(("[" + String(repeating: " ", count: 300 << 10) + "]").utf8).write(to: URL(fileURLWithPath: huge))
        #expect(try gateway.curl("/events", as: device, method: "POST", bodyFile: huge).status == 413)
        let hugeInfo = gateway.dir + "/huge-info.json"
        try Data(("{\"x\":\"" + String(repeating: "a", count: 2 << 20) + "\"}").utf8).write(to: URL(fileURLWithPath: hugeInfo))
        #expect(try gateway.curl("/system_info", as: device, method: "PUT", bodyFile: hugeInfo).status == 413)

        let shown = try gateway.json(try gateway.factoryCLI(["devices", "show", device.uuid, "--json"])) as! [String: Any]
        #expect((shown["events"] as! [Any]).isEmpty)
        #expect(shown["appsStates"] == nil || shown["appsStates"] is NSNull)
        #expect((shown["systemInfo"] as! [String: Any]).isEmpty)
    }

    @Test func aDeviceNeverSeesAnotherDevicesDataAndAUUIDKeepsItsKey() throws {
        let gateway = try GatewayFixture()
        let a = try gateway.device()
        let b = try gateway.device()
        #expect(try gateway.curl("/events", as: a, method: "POST", body: Self.events()).status == 200)
        #expect(try gateway.curl("/apps-states", as: a, method: "POST", body: Self.appsStates).status == 200)
        #expect(try gateway.curl("/device", as: a, headers: ["x-ats-target": "a-target"]).status == 200)

        let seenByB = try gateway.json(try gateway.curl("/device", as: b).body) as! [String: Any]
        #expect(seenByB["uuid"] as? String == b.uuid)
        #expect(seenByB["target_name"] as? String != "a-target")
        // There is no route that takes another device's uuid.
        #expect(try gateway.curl("/device/\(a.uuid)", as: b).status == 404)
        #expect(try gateway.curl("/device?uuid=\(a.uuid)", as: b).body.contains(b.uuid))
        let bShown = try gateway.json(try gateway.factoryCLI(["devices", "show", b.uuid, "--json"])) as! [String: Any]
        #expect((bShown["events"] as! [Any]).isEmpty)
        #expect(bShown["appsStates"] == nil || bShown["appsStates"] is NSNull)

        // A second certificate for A's uuid with another key is refused (401), and stores nothing.
        let impostor = try gateway.device(a.uuid)
        let refused = try gateway.curl("/events", as: impostor, method: "POST", body: Self.events())
        #expect(refused.status == 401, "\(refused.body)")
        let aShown = try gateway.json(try gateway.factoryCLI(["devices", "show", a.uuid, "--json"])) as! [String: Any]
        #expect((aShown["events"] as! [Any]).count == 2)
    }
}
