import OCI

extension AppStore {
    /// The app as the store holds it, from disk alone (no network): its manifest, unpacked
    /// bundle and every image manifest, config and layer must be there, else `notFetched` names
    /// the first piece missing.
    public func storedApp(name: String, uri: String) throws -> StoredApp {
        let appURI = try AppURI(parsing: uri)
        func missing(_ what: String) -> AppStoreError { .notFetched(name: name, uri: uri, missing: what) }
        guard let manifest = try storedManifest(appURI.reference, what: "app \(name) (\(uri))", limit: AppManifest.maxBytes) else {
            throw missing("the app manifest \(appURI.digest)")
        }
        _ = try AppManifest(manifest, what: "app \(name) (\(uri))")
        let directory = bundleDirectory(for: appURI.digest)
        guard AppFiles.isDirectory(directory) else { throw missing("the unpacked bundle \(directory)") }
        let compose = try ComposeFile(directory: directory)
        var images: [StoredImage] = []
        for (_, written, reference) in try compose.pinnedImages() where !images.contains(where: { $0.reference == written }) {
            guard let top = try storedManifest(reference, what: "image \(written)", limit: nil) else {
                throw missing("the manifest of image \(written)")
            }
            var chosen = top
            if let index = top.index {
                let entry = try platformEntry(of: index, reference)
                guard let platformManifest = try storedManifest(entry, what: "image \(written)", limit: nil) else {
                    throw missing("the \(configuration.platform) manifest \(entry.digest!) of image \(written)")
                }
                chosen = platformManifest
            }
            guard let image = chosen.image else {
                throw OCIError.invalidManifest("image \(written)", reason: "the platform entry of its index is not an image manifest")
            }
            for blob in image.blobs where !blobs.has(blob.digest) {
                throw missing("blob \(blob.digest) of image \(written)")
            }
            images.append(StoredImage(
                reference: written, manifestDigest: chosen.digest, configDigest: image.config.digest,
                configPath: blobs.path(of: image.config.digest),
                layers: image.layers.map { StoredLayer(digest: $0.digest, size: $0.size, mediaType: $0.mediaType, path: blobs.path(of: $0.digest)) }))
        }
        return StoredApp(name: name, uri: uri, manifestDigest: appURI.digest, bundleDirectory: directory, images: images)
    }

    /// Every digest the app reaches through what is in the store;
    /// what is missing is skipped (prune keeps whatever a referenced app still has).
    func reachableDigests(uri: String) -> Set<OCIDigest> {
        guard let appURI = try? AppURI(parsing: uri) else { return [] }
        var digests: Set<OCIDigest> = [appURI.digest]
        guard let manifest = try? storedManifest(appURI.reference, what: uri, limit: AppManifest.maxBytes),
              let app = try? AppManifest(manifest, what: uri) else { return digests }
        digests.insert(app.bundle.digest)
        if let meta = app.layersMeta { digests.insert(meta.digest) }
        guard let compose = try? ComposeFile(directory: bundleDirectory(for: appURI.digest)),
              let images = try? compose.pinnedImages() else { return digests }
        for (_, written, reference) in images {
            guard let digest = reference.digest else { continue }
            digests.insert(digest)
            guard let top = try? storedManifest(reference, what: written, limit: nil) else { continue }
            // Of an index, every platform manifest that is stored (a store may serve several).
            let entries = top.index?.manifests.map { Reference(repository: reference.repository, digest: $0.digest) } ?? []
            let manifests = [top] + entries.compactMap { try? storedManifest($0, what: written, limit: nil) }
            for manifest in manifests {
                digests.insert(manifest.digest)
                for blob in manifest.image?.blobs ?? [] { digests.insert(blob.digest) }
            }
        }
        return digests
    }
}
