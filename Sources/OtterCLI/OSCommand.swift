import ArgumentParser
import FoundationEssentials
import OSTree
import OtterCrypto

/// `otter os …`: the OS half of the engine, for operators, image builders and tests.
struct OSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "os",
        abstract: "Pull, deploy, roll back and sign OSTree commits.",
        discussion: """
        A device runs one OSTree deployment and keeps the previous one as its rollback. \
        `otter os status` shows them; `otter os rollback` makes the previous one boot next.
        """,
        subcommands: [Status.self, Pull.self, Deploy.self, Rollback.self, Prune.self, Sign.self, Verify.self, Keygen.self])
}

/// Runs a command body, turning failures into one clear line on stderr and exit status 1.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CancellationError {
        printError("otter: cancelled (\(error))")
        throw ExitCode.failure
    } catch {
        printError("otter: \(error)")
        throw ExitCode.failure
    }
}

/// Trusted commit-signing keys: the files given, else the sysroot's key directories.
func trustedKeys(files: [String], global: GlobalOptions) throws -> [Ed25519PublicKey] {
    if !files.isEmpty { return try CommitSignature.loadTrustedKeys(files: files) }
    return try CommitSignature.loadDeviceTrustedKeys(root: global.sysroot)
}

extension OSCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the deployments: which is booted, which boots next, which is the rollback.")

        @OptionGroup var global: GlobalOptions

        struct Report: Encodable {
            let sysroot: String
            let booted: Bool
            let deployments: [Deployment]
        }

        func run() async throws {
            try await reportingErrors {
                let sysroot = try await Sysroot.load(at: global.sysroot)
                let deployments = try await sysroot.deployments()
                if global.json {
                    try printJSON(Report(sysroot: sysroot.path, booted: sysroot.isBooted, deployments: deployments))
                    return
                }
                print("sysroot \(sysroot.path)\(sysroot.isBooted ? " (booted)" : "")")
                if deployments.isEmpty {
                    print("  no deployments: pull a commit and run `otter os deploy COMMIT`")
                }
                for d in deployments {
                    var marks: [String] = []
                    if d.isBooted { marks.append("booted") }
                    if d.isStaged { marks.append("staged") }
                    if d.isPending { marks.append("pending") }
                    if d.isRollback { marks.append("rollback") }
                    if d.isPinned { marks.append("pinned") }
                    if d.index == 0 && !d.isBooted { marks.append("boots next") }
                    print("\(d.isBooted ? "*" : " ") \(d.osname) \(d.name)\(marks.isEmpty ? "" : " (" + marks.joined(separator: ", ") + ")")")
                    if let version = d.version { print("    version: \(version)") }
                    if let origin = d.origin { print("    origin:  \(origin)") }
                    if let kargs = d.kernelArguments { print("    kargs:   \(kargs)") }
                }
            }
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pull one commit, by checksum, from an OSTree repository URL into the sysroot's repo.",
            discussion: """
            The commit and its signatures arrive first; with --verify-key the signature is checked \
            before any content is fetched. Content comes as a static delta from the deployed commit \
            when the server has one, else object by object. An interrupted pull resumes from what \
            was fetched when run again.

            Example: otter os pull https://gw.example/ostree 3a4f…c2 --verify-key /etc/otter/trusted.ed25519
            """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Base URL of the OSTree repository (http:// or https://).")
        var url: String

        @Argument(help: "The 64-character commit checksum to pull.")
        var commit: String

        @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Client certificate for mTLS.", valueName: "file"))
        var tlsCert: String?

        @Option(name: .customLong("tls-key"), help: ArgumentHelp("Client private key for mTLS.", valueName: "file"))
        var tlsKey: String?

        @Option(name: .customLong("tls-ca"), help: ArgumentHelp("CA bundle that signed the server certificate.", valueName: "file"))
        var tlsCA: String?

        @Option(name: .customLong("verify-key"), help: ArgumentHelp("Trusted ed25519 public keys (one base64 key per line); repeatable.", valueName: "file"))
        var verifyKeys: [String] = []

        @Option(help: "Name of the remote to configure in the repo.")
        var remote = "otter"

        @Option(help: "Local ref to record the commit under (the commit's own ref binding wins).")
        var ref = "otter/os"

        @Flag(help: "Fetch objects only, never a static delta.")
        var noDeltas = false

        func validate() throws {
            guard url.hasPrefix("http://") || url.hasPrefix("https://") || url.hasPrefix("file://") else {
                throw ValidationError("URL must start with http://, https:// or file://, got '\(url)'")
            }
            guard commit.count == 64, Hex.decode(commit) != nil else {
                throw ValidationError("COMMIT must be a 64-character hex checksum, got '\(commit)'")
            }
            if (tlsCert == nil) != (tlsKey == nil) {
                throw ValidationError("--tls-cert and --tls-key go together")
            }
        }

        func run() async throws {
            let reporter = ProgressReporter(quiet: global.json)
            defer { reporter.finish() }
            try await reportingErrors {
                let sysroot = try await Sysroot.load(at: global.sysroot)
                let repo = try await sysroot.repo()
                let keys = try CommitSignature.loadTrustedKeys(files: verifyKeys)
                try await repo.addRemote(Remote(name: remote, url: url, tlsClientCertPath: tlsCert,
                                                tlsClientKeyPath: tlsKey, tlsCAPath: tlsCA))
                let deployments = try await sysroot.deployments()
                let base = (deployments.first(where: \.isBooted) ?? deployments.first)?.checksum
                let result = try await repo.pull(
                    PullRequest(remote: remote, commit: commit, ref: ref, deltaBase: base, trustedKeys: keys,
                                useStaticDeltas: !noDeltas),
                    progress: { reporter.update($0) })
                if global.json {
                    try printJSON(result)
                } else {
                    print("pulled \(result.commit) as \(result.ref): \(formatBytes(result.bytesTransferred)) in \(String(format1: result.seconds)) s"
                          + (result.usedStaticDelta ? " (static delta)" : "")
                          + (result.verifiedBy.map { ", signed by \($0)" } ?? ", signature not checked (no --verify-key)"))
                }
            }
        }
    }

    struct Deploy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deploy a pulled commit so that it boots next.",
            discussion: """
            The commit must be complete and signed by a trusted key: --verify-key files, or else \
            <sysroot>/etc/otter/trusted.ed25519[.d], /usr/lib/otter/trusted.ed25519.d and ostree's \
            trusted.ed25519 locations. Nothing is deployed otherwise.

            --stage leaves the deployment to ostree-finalize-staged.service at shutdown (a booted \
            system only), so /etc changes made until the reboot are kept. Kernel arguments carry \
            over from the current deployment unless --karg is given.
            """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Commit checksum (or a ref of the sysroot's repo).")
        var commit: String

        @Flag(help: "Stage the deployment; it is written at shutdown.")
        var stage = false

        @Option(name: .customLong("os"), help: "Stateroot (osname); default: the booted one.")
        var osname: String?

        @Option(name: .customLong("verify-key"), help: ArgumentHelp("Trusted ed25519 public keys; repeatable.", valueName: "file"))
        var verifyKeys: [String] = []

        @Option(name: .customLong("karg"), help: "Kernel argument replacing the current ones; repeatable.")
        var kernelArguments: [String] = []

        func run() async throws {
            try await reportingErrors {
                let sysroot = try await Sysroot.load(at: global.sysroot)
                let keys = try trustedKeys(files: verifyKeys, global: global)
                guard !keys.isEmpty else {
                    throw OSTreeError(message: "no trusted ed25519 keys found; pass --verify-key FILE or install keys in \(global.path("/etc/otter/trusted.ed25519.d")); nothing was deployed",
                                      context: "deploying \(commit)")
                }
                let deployment = try await sysroot.deploy(DeployRequest(
                    commit: commit, osname: osname, mode: stage ? .staged : .immediate, trustedKeys: keys,
                    kernelArguments: kernelArguments.isEmpty ? nil : kernelArguments))
                if global.json {
                    try printJSON(deployment)
                } else {
                    print("\(stage ? "staged" : "deployed") \(deployment.osname) \(deployment.name)"
                          + (stage ? "; it is written at shutdown and boots after the reboot" : "; it boots next"))
                }
            }
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the previous deployment boot next.",
            discussion: """
            A staged deployment is dropped; a pending one gives way to the booted one; otherwise the \
            rollback deployment moves to the top. Reboot to run it. `otter os status` shows the result.
            """)

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let sysroot = try await Sysroot.load(at: global.sysroot)
                let next = try await sysroot.rollback()
                if global.json { try printJSON(next) } else {
                    print("\(next.osname) \(next.name)\(next.version.map { " (version \($0))" } ?? "") boots next; reboot to run it")
                }
            }
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove deployments other than booted, pending, rollback and pinned, and prune the repo.")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            try await reportingErrors {
                let sysroot = try await Sysroot.load(at: global.sysroot)
                let result = try await sysroot.prune()
                if global.json { try printJSON(result) } else {
                    print("removed \(result.removedDeployments.count) deployment(s), pruned \(result.objectsPruned) object(s), freed \(formatBytes(result.bytesFreed))")
                }
            }
        }
    }

    struct Sign: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a commit with an ed25519 key (the `ostree sign` format).",
            discussion: "The key file holds the base64 secret key, as `ostree sign --keys-file` reads it.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Commit checksum or ref.")
        var commit: String

        @Option(help: ArgumentHelp("Secret key file.", valueName: "file"))
        var key: String

        @Option(help: ArgumentHelp("The repository holding the commit.", valueName: "path"))
        var repo: String

        func run() async throws {
            try await reportingErrors {
                let secret = try CommitSignature.loadSecretKey(file: key)
                let repository = try Repo.open(at: repo)
                try await repository.sign(commit: commit, with: secret)
                let checksum = try await repository.resolve(commit) ?? commit
                if global.json {
                    try printJSON(["commit": checksum, "publicKey": secret.publicKey.base64])
                } else {
                    print("signed \(checksum) with \(secret.publicKey.base64)")
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that a commit is signed by a trusted ed25519 key.",
            discussion: "Exit status 0 when it is, 1 when it is unsigned or signed by no key in FILE.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Commit checksum or ref.")
        var commit: String

        @Option(help: ArgumentHelp("Trusted public keys, one base64 key per line.", valueName: "file"))
        var key: String

        @Option(help: ArgumentHelp("The repository holding the commit.", valueName: "path"))
        var repo: String

        func run() async throws {
            try await reportingErrors {
                let keys = try CommitSignature.loadTrustedKeys(files: [key])
                let repository = try Repo.open(at: repo)
                let signer = try await repository.verifySignature(of: commit, trustedKeys: keys)
                let checksum = try await repository.resolve(commit) ?? commit
                if global.json {
                    try printJSON(["commit": checksum, "signedBy": signer.base64])
                } else {
                    print("\(checksum) is signed by trusted key \(signer.base64)")
                }
            }
        }
    }

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an ed25519 commit-signing key pair in ostree's key-file format.",
            discussion: """
            Writes PREFIX.sec (base64 secret key, mode 0600: keep it offline) and PREFIX.pub (base64 \
            public key: install it on devices as /etc/otter/trusted.ed25519.d/<name>).
            """)

        @OptionGroup var global: GlobalOptions

        @Option(help: ArgumentHelp("Path prefix of the two key files.", valueName: "prefix"))
        var out: String

        func run() async throws {
            try await reportingErrors {
                let key = try Ed25519PrivateKey()
                for path in [out + ".sec", out + ".pub"] where FileManager.default.fileExists(atPath: path) {
                    throw OSTreeError(message: "\(path) exists; refusing to overwrite a key", context: "creating a signing key")
                }
                guard FileManager.default.createFile(atPath: out + ".sec", contents: Data((key.ostreeBase64 + "\n").utf8),
                                                     attributes: [.posixPermissions: 0o600]),
                      FileManager.default.createFile(atPath: out + ".pub", contents: Data((key.publicKey.base64 + "\n").utf8)) else {
                    throw OSTreeError(message: "cannot write \(out).sec / \(out).pub", context: "creating a signing key")
                }
                if global.json { try printJSON(["publicKey": key.publicKey.base64, "secretKeyFile": out + ".sec", "publicKeyFile": out + ".pub"]) } else {
                    print("wrote \(out).sec and \(out).pub (public key \(key.publicKey.base64))")
                }
            }
        }
    }
}
