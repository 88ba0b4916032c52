import COSTree
import FoundationEssentials
import OtterCrypto

/// Ed25519 commit signatures in the format upstream `ostree sign` writes: the detached
/// metadata key `ostree.sign.ed25519` holds an `aay` of 64-byte signatures over the serialized
/// commit object. Debian's libostree 2022.7 is built without ed25519, so Otter does it itself.
public enum CommitSignature {
    public static let metadataKey = "ostree.sign.ed25519"

    /// Reads trusted public keys: files with one base64 key per line (ostree's format; blank lines
    /// and `#` comments skipped), and every file in the given directories (`trusted.ed25519.d`).
    public static func loadTrustedKeys(files: [String] = [], directories: [String] = []) throws -> [Ed25519PublicKey] {
        var paths = files
        for directory in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            paths += names.sorted().filter { !$0.hasPrefix(".") }.map { "\(directory)/\($0)" }
        }
        var keys: [Ed25519PublicKey] = []
        for path in paths {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw OSTreeError(message: "cannot read the key file (\(error))", context: "loading trusted keys from \(path)")
            }
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let trimmed = trimmed(line)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                do { keys.append(try Ed25519PublicKey(base64: trimmed)) } catch {
                    throw OSTreeError(message: "line \(number + 1) is not a base64 ed25519 public key (\(error))",
                                      context: "loading trusted keys from \(path)")
                }
            }
        }
        return keys
    }

    /// The keys a device trusts, below `root` (its sysroot): `/etc/otter/trusted.ed25519`,
    /// `/etc/ostree/trusted.ed25519` and the `trusted.ed25519.d` directories of otter and ostree.
    public static func loadDeviceTrustedKeys(root: String) throws -> [Ed25519PublicKey] {
        let base = root == "/" ? "" : (root.hasSuffix("/") ? String(root.dropLast()) : root)
        let files = ["/etc/otter/trusted.ed25519", "/etc/ostree/trusted.ed25519"].map { base + $0 }
            .filter { FileManager.default.fileExists(atPath: $0) }
        return try loadTrustedKeys(
            files: files,
            directories: ["/etc/otter/trusted.ed25519.d", "/usr/lib/otter/trusted.ed25519.d", "/etc/ostree/trusted.ed25519.d",
                          "/usr/share/ostree/trusted.ed25519.d"].map { base + $0 })
    }

    /// Reads a secret key file (`ostree sign --keys-file` format: base64 of the 64-byte secret
    /// key, or of a 32-byte seed; the first key in the file is used).
    public static func loadSecretKey(file path: String) throws -> Ed25519PrivateKey {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw OSTreeError(message: "cannot read the key file (\(error))", context: "loading signing key \(path)")
        }
        guard let line = text.split(separator: "\n").map(trimmed)
            .first(where: { !$0.isEmpty && !$0.hasPrefix("#") }) else {
            throw OSTreeError(message: "the file holds no key", context: "loading signing key \(path)")
        }
        do { return try Ed25519PrivateKey(base64: line) } catch {
            throw OSTreeError(message: "not a base64 ed25519 secret key (\(error))", context: "loading signing key \(path)")
        }
    }
}

extension Repo {
    /// Adds an ed25519 signature of `commit` to its detached metadata, keeping any signatures
    /// and other detached metadata already there.
    public func sign(commit rev: String, with key: Ed25519PrivateKey) async throws {
        try await queue.run {
            guard let checksum = try self.resolveNow(rev) else {
                throw OSTreeError(message: "no such commit or ref", context: "signing \(rev) in \(self.path)")
            }
            let message = try self.commitBytesNow(checksum)
            let signature = try key.signature(for: message)
            var existing: [[UInt8]] = []
            var others: [(key: String, value: GVariantBox)] = []
            if let detached = try self.detachedMetadataNow(checksum) {
                let dict = Vardict(detached)
                existing = dict.byteStrings(CommitSignature.metadataKey)
                others = dict.entries().filter { $0.key != CommitSignature.metadataKey }
            }
            if existing.contains(signature) { return }
            let builder = g_variant_builder_new(costree_variant_type_vardict())!
            defer { g_variant_builder_unref(builder) }
            for (name, value) in others {
                value.withPointer { g_variant_builder_add_value(builder, g_variant_new_dict_entry(g_variant_new_string(name), g_variant_new_variant($0))) }
            }
            let signatures = VariantValue.byteStrings(existing + [signature]).make()
            g_variant_builder_add_value(builder, g_variant_new_dict_entry(g_variant_new_string(CommitSignature.metadataKey),
                                                                          g_variant_new_variant(signatures)))
            try GVariantBox(sinking: g_variant_builder_end(builder)).withPointer { (metadata) throws(OSTreeError) in
                try gcall("writing the signature of \(checksum) in \(self.path)") {
                    ostree_repo_write_commit_detached_metadata(self.pointer, checksum, metadata, nil, $0).isTrue
                }
            }
        }
    }

    /// Checks that `commit` carries a valid ed25519 signature by one of `trustedKeys`, and returns
    /// that key. Throws, naming the commit, when it is unsigned or signed by no trusted key.
    @discardableResult
    public func verifySignature(of rev: String, trustedKeys: [Ed25519PublicKey]) async throws -> Ed25519PublicKey {
        try await queue.run { try self.verifySignatureNow(of: rev, trustedKeys: trustedKeys) }
    }

    func verifySignatureNow(of rev: String, trustedKeys: [Ed25519PublicKey]) throws -> Ed25519PublicKey {
        guard let checksum = try resolveNow(rev) else {
            throw OSTreeError(message: "no such commit or ref", context: "verifying \(rev) in \(path)")
        }
        guard !trustedKeys.isEmpty else {
            throw OSTreeError(message: "no trusted ed25519 keys are configured, so nothing can be verified",
                              context: "verifying commit \(checksum)")
        }
        let signatures = try detachedMetadataNow(checksum).map {
            Vardict($0).byteStrings(CommitSignature.metadataKey)
        } ?? []
        guard !signatures.isEmpty else {
            throw OSTreeError(message: "commit \(checksum) is not signed (no \(CommitSignature.metadataKey) in its detached metadata)",
                              context: "verifying commit \(checksum)")
        }
        let message = try commitBytesNow(checksum)
        for key in trustedKeys {
            for signature in signatures where key.isValidSignature(signature, for: message) {
                return key
            }
        }
        throw OSTreeError(message: "commit \(checksum) is not signed by any trusted key (\(signatures.count) signature(s), \(trustedKeys.count) trusted key(s))",
                          context: "verifying commit \(checksum)")
    }
}

/// `line` without leading and trailing spaces, tabs and carriage returns.
func trimmed(_ line: Substring) -> String {
    let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
    guard let first = line.firstIndex(where: { !blank($0) }), let last = line.lastIndex(where: { !blank($0) }) else { return "" }
    return String(line[first...last])
}
