/// A content descriptor: what a manifest says about a blob or another manifest
/// (image-spec `descriptor.md`).
public struct Descriptor: Codable, Hashable, Sendable {
    public var mediaType: String
    public var digest: OCIDigest
    public var size: Int64
    public var urls: [String]?
    public var annotations: [String: String]?
    /// Only in image indexes and manifest lists.
    public var platform: Platform?
    public var artifactType: String?

    public init(mediaType: String, digest: OCIDigest, size: Int64, annotations: [String: String]? = nil,
                platform: Platform? = nil, artifactType: String? = nil) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.annotations = annotations
        self.platform = platform
        self.artifactType = artifactType
    }

    /// The descriptor of `bytes` as they are.
    public static func of(_ bytes: [UInt8], mediaType: String) -> Descriptor {
        Descriptor(mediaType: mediaType, digest: .sha256(of: bytes), size: Int64(bytes.count))
    }
}

/// The platform an image runs on (image-spec `image-index.md`).
public struct Platform: Codable, Hashable, Sendable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    public var osVersion: String?
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(architecture: String, os: String = "linux", variant: String? = nil) {
        self.architecture = architecture
        self.os = os
        self.variant = variant
    }

    /// The platform this binary was built for, in GOARCH terms (what registries list).
    public static var current: Platform {
        #if arch(x86_64)
        Platform(architecture: "amd64")
        #elseif arch(arm64)
        Platform(architecture: "arm64", variant: "v8")
        #elseif arch(arm)
        Platform(architecture: "arm", variant: "v7")
        #elseif arch(i386)
        Platform(architecture: "386")
        #else
        Platform(architecture: "unknown")
        #endif
    }

    /// Whether an image for `offered` runs here: same OS and architecture, and the same variant
    /// when both name one (arm64 images often leave out `v8`).
    public func accepts(_ offered: Platform) -> Bool {
        guard offered.os == os, offered.architecture == architecture else { return false }
        guard let variant, let other = offered.variant else { return true }
        return variant == other
    }

    public var description: String {
        "\(os)/\(architecture)" + (variant.map { "/\($0)" } ?? "")
    }
}
