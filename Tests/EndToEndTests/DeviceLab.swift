import Bootloader
import Foundation
import OSTree
import TestSupport
import Updater

/// A factory and a device on one machine, all real: `otter-factory` publishing into its
/// OSTree repo, TUF repository and a distribution registry; a podman Docker API service; a
/// throw-away OSTree sysroot whose boots are simulated (the bootloader env is a file and the
/// "booted" commit is what `SimulatedBoot` wrote); the `otter` binary as the device agent.
final class DeviceLab: @unchecked Sendable {
    let temp = TempDir("otter-e2e")
    let registry: DistributionRegistry
    let podman: PodmanFixture
    let server: FileServer
    let appPort = freeLoopbackPort()
    var factory: String { temp.path + "/factory" }
    var sysroot: String { temp.path + "/sysroot" }
    var bootFile: String { sysroot + "/run/otter-test-booted" }
    let hardwareID = "otter-lab"

    /// `registryAuth`: the registry wants these credentials (htpasswd basic auth) for push and pull.
    let registryAuth: (user: String, password: String)?
    /// Set once the registry is in token-auth mode with the factory as its signer: images are
    /// pushed with a token from `otter-factory registry token`, bundles with `apps publish --factory`.
    var factorySignsRegistryTokens = false

    init(registryAuth: (user: String, password: String)? = nil) async throws {
        self.registryAuth = registryAuth
        registry = try DistributionRegistry(htpasswd: registryAuth)
        try await registry.start()
        podman = try PodmanFixture()
        let factory = temp.path + "/factory"
        let made = try runProcess(builtProduct("otter-factory"), ["init", factory])
        guard made.status == 0 else { throw FixtureError("otter-factory init: \(made.err)") }
        server = try FileServer(directory: factory)
        try makeSysroot(at: temp.sub("sysroot"))
        try writeDeviceFiles()
    }

    deinit {
        podman.stop()
        registry.stop()
        server.stop()
    }

    // MARK: - Factory side

    @discardableResult
    func factoryCLI(_ args: [String]) throws -> String {
        let result = try runProcess(builtProduct("otter-factory"), args)
        guard result.status == 0 else { throw FixtureError("otter-factory \(args.joined(separator: " ")): \(result.err)") }
        return result.out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// OS version `version`: a rootfs committed, signed and delta'd by the factory.
    func publishOS(_ version: String, payloadFiles: Int = 4, payloadSize: Int = 4096) throws -> String {
        let rootfs = temp.sub("rootfs-\(version)")
        try makeRootfs(at: rootfs, version: version, payloadFiles: payloadFiles, payloadSize: payloadSize, seed: Int(version) ?? 0)
        return try factoryCLI(["os", "publish", "--factory", factory, rootfs, "--version", version, "--hwid", hardwareID])
    }

    /// An app whose web service answers `GET /` with `body`, published as a compose app;
    /// returns its URI.
    func publishApp(_ name: String, version: String, body: String) throws -> String {
        let context = temp.sub("image-\(name)-\(version)")
        try FileManager.default.createDirectory(atPath: context + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: context + "/www", withIntermediateDirectories: true)
        try? FileManager.default.copyItem(atPath: "/bin/busybox", toPath: context + "/bin/busybox")
        try body.write(toFile: context + "/www/index.html", atomically: true, encoding: .utf8)
        try """
        FROM scratch
        COPY bin/busybox /bin/busybox
        COPY www /www
        CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
        """.write(toFile: context + "/Containerfile", atomically: true, encoding: .utf8)
        let tag = "localhost/build/\(name):\(version)"
        let built = try podman.podman(["build", "-q", "-t", tag, context], store: "build")
        guard built.status == 0 else { throw FixtureError("podman build: \(built.err)") }
        let root = podman.directory + "/build"
        let image = "\(registry.registry)/images/\(name)"
        let digestFile = context + "/digest"
        let pushed = try runProcess("/usr/bin/skopeo", [
            "copy", "--dest-tls-verify=false", "--digestfile", digestFile,
        ] + (registryAuth.map { ["--dest-creds", "\($0.user):\($0.password)"] } ?? [])
          + (factorySignsRegistryTokens ? ["--dest-registry-token", try factoryCLI(["registry", "token", "--factory", factory,
                                                                                     "--scope", "repository:images/\(name):pull,push"])] : []) + [
            "containers-storage:[vfs@\(root)/root+\(root)/run]\(tag)", "docker://\(image):\(version)",
        ], env: podman.environment)
        guard pushed.status == 0 else { throw FixtureError("skopeo copy: \(pushed.err)") }
        let digest = try String(contentsOfFile: digestFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)

        let project = temp.sub("app-\(name)-\(version)")
        try """
        services:
          web:
            image: \(image)@\(digest)
            stop_grace_period: 1s
            ports:
              - "127.0.0.1:\(appPort):8080"
        """.write(toFile: project + "/docker-compose.yml", atomically: true, encoding: .utf8)
        return try factoryCLI(["apps", "publish", project, "--registry", "\(registry.registry)/factory/\(name)", "--plain-http"]
                              + (registryAuth.map { ["--username", $0.user, "--password", $0.password] } ?? [])
                              + (factorySignsRegistryTokens ? ["--factory", factory] : []))
    }

    func addTarget(_ version: String, os: String, apps: [String: String]) throws {
        try factoryCLI(["targets", "add", "--factory", factory, "--version", version, "--hwid", hardwareID, "--tag", "main",
                        "--os", os] + apps.sorted { $0.key < $1.key }.flatMap { ["--app", "\($0.key)=\($0.value)"] })
    }

    // MARK: - Device side

    /// Config, trust (TUF root, commit key) and a required health check: the app must answer
    /// with a page starting with "ok".
    private func writeDeviceFiles() throws {
        try write("""
        [device]
        hardware_id = "\(hardwareID)"
        tag = "main"

        [servers]
        tuf_url = "\(server.url)/tuf/ci"
        ostree_url = "\(server.url)/ostree"
        plain_http_registries = ["\(registry.registry)"]

        [update]
        auto_reboot = false
        os = "otter"

        [health]
        timeout = 30
        per_check_timeout = 10
        greenboot_dirs = []

        [bootloader]
        backend = "file"

        [apps]
        engine_socket = "\(podman.socketPath)"
        compose_command = ["/usr/bin/docker-compose"]
        reserve_bytes = 1048576
        """, to: sysroot + "/etc/otter/conf.d/50-lab.toml")
        try FileManager.default.createDirectory(atPath: sysroot + "/usr/lib/otter/tuf", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: factory + "/tuf/ci/1.root.json", toPath: sysroot + "/usr/lib/otter/tuf/root.json")
        try FileManager.default.createDirectory(atPath: sysroot + "/etc/otter/trusted.ed25519.d", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: factory + "/keys/ostree/ed25519.pub", toPath: sysroot + "/etc/otter/trusted.ed25519.d/factory.pub")
        let check = sysroot + "/etc/otter/health/required.d/10-app-answers"
        try write("#!/bin/sh\nexec /usr/bin/curl -fsS --retry 20 --retry-delay 1 --retry-all-errors http://127.0.0.1:\(appPort)/ | grep -q '^ok'\n", to: check)
        chmod(check, 0o755)
    }

    struct Run {
        var out: String
        var err: String
        var status: Int32
    }

    /// `otter ARGS --sysroot <sysroot>` with the simulated-boot file; `crashAt` sets the
    /// executor's crash hook (`OTTER_CRASH_AT`).
    @discardableResult
    func otter(_ args: [String], crashAt: String? = nil, env extra: [String: String] = [:]) throws -> Run {
        var env = ["OTTER_SIMULATED_BOOT_FILE": bootFile].merging(extra) { $1 }
        if let crashAt { env["OTTER_CRASH_AT"] = crashAt }
        let result = try runProcess(builtProduct("otter"), args + ["--sysroot", sysroot], env: env)
        return Run(out: result.out, err: result.err, status: result.status)
    }

    /// Boots the sysroot as the LmP boot script would; `failing` commits never reach user space.
    @discardableResult
    func reboot(failing: Set<String> = []) async throws -> String {
        let configuration = try OtterConfiguration.load(root: sysroot)
        guard let counter = try configuration.bootloader.bootCounter() else { throw FixtureError("no boot counter configured") }
        return try await SimulatedBoot(file: bootFile).reboot(sysroot: sysroot, flags: BootCounterFlags(counter), failingCommits: failing)
    }

    func status(env: [String: String] = [:]) throws -> [String: Any] {
        let run = try otter(["status", "--json"], env: env)
        guard run.status == 0 else { throw FixtureError("otter status: \(run.err)") }
        return try JSONSerialization.jsonObject(with: Data(run.out.utf8)) as? [String: Any] ?? [:]
    }

    func currentVersion() throws -> String? {
        (try status()["current"] as? [String: Any])?["version"] as? String
    }

    /// The page the app serves now, or nil when nothing answers.
    func appPage() -> String? {
        let result = try? runProcess("/usr/bin/curl", ["-fsS", "--max-time", "3", "--retry", "10", "--retry-delay", "1",
                                                      "--retry-all-errors", "http://127.0.0.1:\(appPort)/"])
        guard let result, result.status == 0 else { return nil }
        return result.out
    }

    func deployments() throws -> [String] {
        try sh(["ostree", "admin", "status", "--sysroot=\(sysroot)"]).split(separator: "\n")
            .filter { $0.contains("otter ") }.map { String($0) }
    }
}
