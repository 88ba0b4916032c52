import FoundationEssentials
import OCI

/// A compose project's file (`docker-compose.yml` and its aliases): its services and the image
/// each one runs. A compose app pins every image by digest (REFERENCE.md §2), so the bundle's
/// digest pins the whole tree of image manifests, configs and layers.
public struct ComposeFile {
    /// File names compose looks for, in its order of preference.
    public static let fileNames = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
    /// Larger compose files are refused (the compose-app v1 limit).
    public static let maxBytes = 1 << 20

    public struct Service: Sendable, Equatable {
        public var name: String
        /// The `image:` as written, nil when the service only has `build:`.
        public var image: String?
    }

    /// Where the file was read from, for messages.
    public let path: String
    public private(set) var services: [Service]
    private var root: YAMLNode

    /// Parses YAML text; `path` names it in errors.
    public init(yaml: String, path: String) throws(AppStoreError) {
        guard yaml.utf8.count <= Self.maxBytes else {
            throw .invalidComposeFile(path, reason: "larger than \(Self.maxBytes) bytes")
        }
        let node: YAMLNode?
        do {
            node = try YAMLNode.parse(yaml)
        } catch {
            throw .invalidComposeFile(path, reason: "not valid YAML (\(error))")
        }
        guard let node, node.mapping != nil else { throw .invalidComposeFile(path, reason: "not a YAML mapping") }
        guard let services = node.mapping?["services"]?.mapping, !services.isEmpty else {
            throw .invalidComposeFile(path, reason: "no `services:` mapping")
        }
        var list: [Service] = []
        for (key, value) in services {
            guard let name = key.string else { throw .invalidComposeFile(path, reason: "a service name is not a string") }
            guard let service = value.mapping else { throw .invalidComposeFile(path, reason: "service \(name) is not a mapping") }
            if let image = service["image"], image.string == nil {
                throw .invalidComposeFile(path, reason: "service \(name) has an `image:` that is not a string")
            }
            list.append(Service(name: name, image: service["image"]?.string))
        }
        self.path = path
        self.root = node
        self.services = list
    }

    /// Reads the compose file of a project directory (the first of `fileNames` present).
    public init(directory: String) throws(AppStoreError) {
        guard let path = Self.locate(in: directory) else {
            throw .invalidComposeFile(directory, reason: "no \(Self.fileNames.joined(separator: ", ")) in the directory")
        }
        let bytes = try AppFiles.read(path, limit: Self.maxBytes)
        try self.init(yaml: String(decoding: bytes, as: UTF8.self), path: path)
    }

    /// The compose file's path in `directory`, nil when there is none.
    public static func locate(in directory: String) -> String? {
        fileNames.map { "\(directory)/\($0)" }.first(where: AppFiles.isRegularFile)
    }

    /// Every service's image as a digest-pinned reference; fails on the first service whose image
    /// is missing, unparsable or not pinned (`name@sha256:<64 hex>`), naming service and image.
    public func pinnedImages() throws(AppStoreError) -> [(service: String, image: String, reference: Reference)] {
        var images: [(service: String, image: String, reference: Reference)] = []
        for service in services {
            guard let image = service.image else {
                throw .unpinnedImage(service: service.name, image: nil, file: path)
            }
            guard let reference = try? Reference(parsing: image), reference.digest?.algorithm == .sha256 else {
                throw .unpinnedImage(service: service.name, image: image, file: path)
            }
            images.append((service.name, image, reference))
        }
        return images
    }

    /// Resolves every image that is not pinned (`name:tag`) to `name@sha256:<digest>` through the
    /// registry (HEAD of the manifest), and drops `build:` from services that now have an image.
    /// Returns the services changed. Images already pinned are left as written.
    @discardableResult
    public mutating func pin(using registry: RegistryClient) async throws -> [Service] {
        var changed: [Service] = []
        guard var rootMapping = root.mapping, var services = rootMapping["services"]?.mapping else { return [] }
        for (index, service) in self.services.enumerated() {
            guard let image = service.image else {
                throw AppStoreError.unpinnedImage(service: service.name, image: nil, file: path)
            }
            let reference: Reference
            do {
                reference = try Reference(parsing: image)
            } catch {
                throw AppStoreError.invalidComposeFile(path, reason: "service \(service.name): \(error)")
            }
            if reference.digest != nil { continue }
            guard let descriptor = try await registry.manifestDescriptor(reference) else {
                throw OCIError.notFound(what: "image \(image) of service \(service.name)")
            }
            let pinned = Reference(repository: reference.repository, digest: descriptor.digest).description
            guard var mapping = services[service.name]?.mapping else { continue }
            mapping["image"] = YAMLNode(pinned)
            mapping["build"] = nil
            services[service.name] = YAMLNode(mapping)
            self.services[index].image = pinned
            changed.append(self.services[index])
        }
        rootMapping["services"] = YAMLNode(services)
        root = YAMLNode(rootMapping)
        return changed
    }

    /// The file as YAML text (comments are not kept).
    public func yaml() throws -> String {
        try root.yaml()
    }

    /// Writes the YAML to `path` (by default where it was read from), replacing it atomically.
    public func write(to destination: String? = nil) throws {
        try AppFiles.writeAtomically(destination ?? path, Array(try yaml().utf8))
    }
}
