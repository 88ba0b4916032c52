import FoundationEssentials
import Glibc

/// An app's compose project on the device: `<composeRoot>/<name>/`, a copy of the bundle whose
/// compose file is the effective one (images by their local names, see `LocalImageName`),
/// plus `.otter-app.json` saying which version it is.
struct ComposeProject {
    static let metadataFile = ".otter-app.json"
    static let composeFileNames = ["docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml"]

    /// What Otter records about an installed project.
    struct Metadata: Codable, Equatable {
        var name: String
        var uri: String
        var manifestDigest: String
        var composeFile: String
        /// Services of the compose file, sorted.
        var services: [String]
        /// Local image names the project needs (all must be in the engine before `up`).
        var localImages: [String]
    }

    /// The effective compose file of `app` and what goes into its metadata.
    struct Effective {
        var composeFileName: String
        var text: String
        var metadata: Metadata
    }

    /// Reads the published compose file and points every service's `image:` at the local name
    /// of its stored image. Adds `pull_policy: never`, so compose v2 fails instead of pulling
    /// should an image be missing (compose v1 ignores it; `start` checks the images first).
    static func effective(for app: StoredApp) throws(AppRuntimeError) -> Effective {
        guard let fileName = composeFileNames.first(where: { access(app.bundleDirectory + "/" + $0, R_OK) == 0 }) else {
            throw AppRuntimeError(app: app.name, "the bundle \(app.bundleDirectory) has no compose file (\(composeFileNames.joined(separator: ", ")))",
                                  next: "fetch the app again")
        }
        let path = app.bundleDirectory + "/" + fileName
        let published: String
        do {
            published = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw AppRuntimeError(app: app.name, "cannot read \(path): \(error)", next: "fetch the app again")
        }
        let parsed: YAMLNode?
        do {
            parsed = try YAMLNode.parse(published)
        } catch {
            throw AppRuntimeError(app: app.name, "\(path) is not valid YAML: \(error)", next: "fix the compose file and publish the app again")
        }
        guard let parsed else {
            throw AppRuntimeError(app: app.name, "\(path) is empty", next: "publish a compose file with services")
        }
        guard var root = parsed.mapping, var services = root["services"]?.mapping, !services.isEmpty else {
            throw AppRuntimeError(app: app.name, "\(path) defines no services", next: "fix the compose file and publish the app again")
        }
        let stored = Dictionary(app.images.map { ($0.reference, $0) }, uniquingKeysWith: { first, _ in first })
        var localImages: Set<String> = []
        var serviceNames: [String] = []
        for (key, value) in services {
            guard let service = key.string, var definition = value.mapping else {
                throw AppRuntimeError(app: app.name, "\(path): service \(key.string ?? "?") is not a mapping", next: "fix the compose file and publish the app again")
            }
            serviceNames.append(service)
            guard let image = definition["image"]?.string else {
                throw AppRuntimeError(app: app.name, "\(path): service \(service) has no image (a `build:` cannot run on a device)",
                                      next: "pin the service's image by digest and publish the app again")
            }
            guard stored[image] != nil else {
                throw AppRuntimeError(app: app.name, "service \(service) uses image \(image), which is not among the app's stored images (\(app.images.map(\.reference).joined(separator: ", ")))",
                                      next: "fetch the app again; an image that is not pinned by digest must be pinned when publishing")
            }
            guard let local = LocalImageName.name(forPinned: image) else {
                throw AppRuntimeError(app: app.name, "service \(service) uses image \(image), which is not pinned by digest",
                                      next: "publish the app with every image pinned (name@sha256:…)")
            }
            localImages.insert(local)
            definition["image"] = YAMLNode(local)
            definition["pull_policy"] = YAMLNode("never")
            services[service] = YAMLNode(definition)
        }
        root["services"] = YAMLNode(services)
        let text: String
        do {
            text = try YAMLNode(root).yaml()
        } catch {
            throw AppRuntimeError(app: app.name, "cannot write the effective compose file: \(error)", next: "report this as a bug")
        }
        let metadata = Metadata(name: app.name, uri: app.uri, manifestDigest: app.manifestDigest.description,
                                composeFile: fileName, services: serviceNames.sorted(), localImages: localImages.sorted())
        return Effective(composeFileName: fileName, text: text, metadata: metadata)
    }

    /// Writes the project of `app` under `root/<name>`: built beside it, then renamed into
    /// place (the old directory moved aside first and removed after), so the directory is
    /// always one whole version, or absent for an instant (status then says "not installed"
    /// and a retried install writes it again). Running containers keep what they bind-mounted
    /// from the old one (their mounts hold the old inodes).
    static func write(_ app: StoredApp, _ effective: Effective, root: String) throws(AppRuntimeError) {
        let fm = FileManager.default
        let final = root + "/" + app.name
        let staging = root + "/.\(app.name).installing"
        do {
            try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
            if fm.fileExists(atPath: staging) { try fm.removeItem(atPath: staging) }
            try fm.copyItem(atPath: app.bundleDirectory, toPath: staging)
            try Data(effective.text.utf8).write(to: URL(fileURLWithPath: staging + "/" + effective.composeFileName))
            let metadata = try JSONEncoder().encode(effective.metadata)
            try metadata.write(to: URL(fileURLWithPath: staging + "/" + metadataFile))
        } catch {
            try? fm.removeItem(atPath: staging)
            throw AppRuntimeError(app: app.name, "cannot write the compose project \(staging): \(error)", next: "check free space and permissions of \(root)")
        }
        syncDirectory(staging)
        let previous = root + "/.\(app.name).previous"
        if fm.fileExists(atPath: previous) { try? fm.removeItem(atPath: previous) }
        if fm.fileExists(atPath: final) {
            guard rename(final, previous) == 0 else {
                let reason = String(cString: strerror(errno))
                try? fm.removeItem(atPath: staging)
                throw AppRuntimeError(app: app.name, "cannot move \(final) aside: \(reason)", next: "check permissions of \(root)")
            }
        }
        if rename(staging, final) != 0 {
            let reason = String(cString: strerror(errno))
            _ = rename(previous, final)
            try? fm.removeItem(atPath: staging)
            throw AppRuntimeError(app: app.name, "cannot create \(final): \(reason)", next: "check permissions of \(root)")
        }
        try? fm.removeItem(atPath: previous)
        syncDirectory(root)
    }

    static func metadata(name: String, root: String) -> Metadata? {
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: root + "/" + name + "/" + metadataFile)) else { return nil }
        return try? JSONDecoder().decode(Metadata.self, from: data)
    }

    static func installedNames(root: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return entries.filter { !$0.hasPrefix(".") && metadata(name: $0, root: root) != nil }.sorted()
    }

    private static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}
