import OCI

/// The engine-local name of a pinned image.
///
/// A compose file pins `registry/repo@sha256:<digest>`, but an image loaded from a
/// docker-archive has no registry digest (vanilla dockerd only records one after a pull;
/// foundriesio's patched moby accepts digest RepoTags, Otter must not need it). Left as it
/// is, `compose up` would find no image by that name and pull it. So each image is loaded
/// under the tag `registry/repo:otter-<hex of the pinned digest>`, and compose runs on an
/// *effective* compose file in the project directory whose `image:` entries name these tags
/// (the published file stays untouched in the bundle). Both dockerd and podman resolve such a
/// tag locally. The tag is a pure function of the pinned reference and back, so status maps a
/// container's image to the published reference without any table, whichever version of the
/// app created the container.
public enum LocalImageName {
    static let tagPrefix = "otter-"

    /// `registry/repo:otter-<hex>` for `registry/repo[:tag]@sha256:<hex>`; nil when the
    /// reference is not pinned by digest.
    public static func forPinned(_ reference: String) -> (repository: String, tag: String)? {
        guard let parsed = try? Reference(parsing: reference), let digest = parsed.digest else { return nil }
        return (written(parsed.repository, original: reference), tagPrefix + digest.hex)
    }

    public static func name(forPinned reference: String) -> String? {
        forPinned(reference).map { "\($0.repository):\($0.tag)" }
    }

    /// The pinned reference back from a local name (`registry/repo@sha256:<hex>`), or nil when
    /// the name is not one of Otter's.
    public static func pinnedReference(forLocal name: String) -> String? {
        guard let colon = name.lastIndex(of: ":") else { return nil }
        let tag = name[name.index(after: colon)...]
        guard tag.hasPrefix(tagPrefix) else { return nil }
        let hex = tag.dropFirst(tagPrefix.count)
        guard hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return "\(name[..<colon])@sha256:\(hex)"
    }

    /// The repository as the compose file writes it: `Reference` normalises `nginx` to
    /// `docker.io/library/nginx`; keep the short form when the file used it, so the mapping
    /// back gives the published text.
    private static func written(_ repository: Repository, original: String) -> String {
        let beforeDigest = original.split(separator: "@", maxSplits: 1).first.map(String.init) ?? original
        var name = beforeDigest
        let lastSlash = name.lastIndex(of: "/")
        if let colon = name.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            name = String(name[..<colon])
        }
        return name.isEmpty ? repository.description : name
    }
}
