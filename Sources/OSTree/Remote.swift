import COSTree

/// A configured remote and the options Otter sets on it.
public struct Remote: Sendable, Equatable {
    public var name: String
    public var url: String
    public var tlsClientCertPath: String?
    public var tlsClientKeyPath: String?
    public var tlsCAPath: String?
    /// GPG verification; Otter signs with ed25519, so off unless a fleet really uses GPG.
    public var gpgVerify: Bool
    /// Ed25519 public keys (base64) that must sign every commit pulled from this remote.
    /// Written in ostree's own format (`verification-ed25519-key`/`-file`, `sign-verify`); Otter
    /// enforces it itself, because Debian's libostree cannot verify ed25519.
    public var verificationKeys: [String]
    public var verificationKeyFile: String?

    public init(name: String, url: String, tlsClientCertPath: String? = nil, tlsClientKeyPath: String? = nil,
                tlsCAPath: String? = nil, gpgVerify: Bool = false, verificationKeys: [String] = [],
                verificationKeyFile: String? = nil) {
        self.name = name
        self.url = url
        self.tlsClientCertPath = tlsClientCertPath
        self.tlsClientKeyPath = tlsClientKeyPath
        self.tlsCAPath = tlsCAPath
        self.gpgVerify = gpgVerify
        self.verificationKeys = verificationKeys
        self.verificationKeyFile = verificationKeyFile
    }

    var requiresSignature: Bool { !verificationKeys.isEmpty || verificationKeyFile != nil }

    var options: [(String, VariantValue)] {
        var out: [(String, VariantValue)] = [("gpg-verify", .bool(gpgVerify))]
        if let tlsClientCertPath { out.append(("tls-client-cert-path", .string(tlsClientCertPath))) }
        if let tlsClientKeyPath { out.append(("tls-client-key-path", .string(tlsClientKeyPath))) }
        if let tlsCAPath { out.append(("tls-ca-path", .string(tlsCAPath))) }
        if requiresSignature { out.append(("sign-verify", .string("ed25519"))) }
        if let key = verificationKeys.first { out.append(("verification-ed25519-key", .string(key))) }
        if let verificationKeyFile { out.append(("verification-ed25519-file", .string(verificationKeyFile))) }
        return out
    }
}

extension Repo {
    /// Adds the remote, replacing one of the same name (as aktualizr-lite does on every update).
    public func addRemote(_ remote: Remote) async throws {
        try await queue.run {
            try GVariantBox(sinking: makeVardict(remote.options)).withPointer { (options) throws(OSTreeError) in
                try gcall("adding remote \(remote.name) (\(remote.url)) to \(self.path)") {
                    ostree_repo_remote_change(self.pointer, nil, OSTREE_REPO_REMOTE_CHANGE_REPLACE, remote.name,
                                              remote.url, options, nil, $0).isTrue
                }
            }
        }
    }

    public func removeRemote(named name: String) async throws {
        try await queue.run {
            try gcall("removing remote \(name) from \(self.path)") {
                ostree_repo_remote_change(self.pointer, nil, OSTREE_REPO_REMOTE_CHANGE_DELETE_IF_EXISTS, name,
                                          nil, nil, nil, $0).isTrue
            }
        }
    }

    public func remoteNames() async throws -> [String] {
        try await queue.run {
            var count: UInt32 = 0
            return takeStringArray(ostree_repo_remote_list(self.pointer, &count)).sorted()
        }
    }

    /// Reads a remote back, with the options Otter knows about.
    public func remote(named name: String) async throws -> Remote {
        try await queue.run { try self.remoteNow(named: name) }
    }

    func remoteNow(named name: String) throws -> Remote {
        func option(_ key: String) throws -> String? {
            var out: UnsafeMutablePointer<CChar>? = nil
            try gcall("reading option \(key) of remote \(name)") {
                ostree_repo_get_remote_option(pointer, name, key, nil, &out, $0).isTrue
            }
            return takeString(out)
        }
        var url: UnsafeMutablePointer<CChar>? = nil
        try gcall("reading remote \(name) in \(path)") { ostree_repo_remote_get_url(pointer, name, &url, $0).isTrue }
        var gpg: gboolean = 0
        try gcall("reading gpg-verify of remote \(name)") {
            ostree_repo_get_remote_boolean_option(pointer, name, "gpg-verify", 1, &gpg, $0).isTrue
        }
        return Remote(name: name, url: takeString(url) ?? "",
                      tlsClientCertPath: try option("tls-client-cert-path"),
                      tlsClientKeyPath: try option("tls-client-key-path"),
                      tlsCAPath: try option("tls-ca-path"), gpgVerify: gpg.isTrue,
                      verificationKeys: try option("verification-ed25519-key").map { [$0] } ?? [],
                      verificationKeyFile: try option("verification-ed25519-file"))
    }
}
