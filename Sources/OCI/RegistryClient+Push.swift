import HTTP

/// Pushing (distribution-spec v1.1 "push"): what the publisher needs, blobs and manifests.
extension RegistryClient {
    /// What a blob push sends: bytes in memory or a file streamed from disk.
    public enum BlobContent: Sendable {
        case bytes([UInt8])
        case file(path: String)
    }

    /// Uploads a blob unless the repository has it already (HEAD first), with a monolithic
    /// upload: `POST /v2/<name>/blobs/uploads/` then `PUT <location>?digest=<digest>` with the
    /// whole body. The registry checks the digest and refuses a mismatch. Returns whether bytes
    /// were sent.
    @discardableResult
    public func pushBlob(_ content: BlobContent, as descriptor: Descriptor, to repository: Repository) async throws -> Bool {
        if let size = try await blobSize(descriptor.digest, in: repository), size == descriptor.size { return false }
        let what = "upload of blob \(descriptor.digest) to \(repository)"
        let start = try await authorized(repository, what: what) { authorization in
            var headers = HTTPHeaders([("Content-Length", "0")])
            if let authorization { headers["Authorization"] = authorization }
            return try await self.http.send(HTTPRequest(method: .post, url: self.apiURL(repository, "blobs/uploads/"),
                                                        headers: headers, body: .bytes([])),
                                            maxBodyBytes: self.configuration.limits.jsonBytes)
        }
        try check(start, what: what)
        guard start.status == 202, let location = start.headers["Location"] else {
            throw OCIError.registry(what: what, reason: "the upload start answered \(start.status) without a Location")
        }
        var url = location.hasPrefix("/") ? baseURL(repository.registry) + location : location
        url += (url.contains("?") ? "&" : "?") + "digest=" + percentEncoded(descriptor.digest.description)
        let body: HTTPRequestBody
        switch content {
        case .bytes(let bytes): body = .bytes(bytes)
        case .file(let path): body = .file(path: path)
        }
        let uploadURL = url
        let done = try await authorized(repository, what: what) { authorization in
            var headers = HTTPHeaders([("Content-Type", "application/octet-stream"), ("Content-Length", String(descriptor.size))])
            if let authorization { headers["Authorization"] = authorization }
            return try await self.http.send(HTTPRequest(method: .put, url: uploadURL, headers: headers, body: body, isRetryable: false),
                                            maxBodyBytes: self.configuration.limits.jsonBytes)
        }
        try check(done, what: what)
        guard done.status == 201 else {
            throw OCIError.registry(what: what, reason: "the registry answered \(done.status) instead of 201 Created")
        }
        return true
    }

    /// Uploads a manifest (`PUT /v2/<name>/manifests/<tag or digest>`) with its media type and
    /// returns its descriptor. The digest the registry announces must be the bytes' digest.
    @discardableResult
    public func pushManifest(_ bytes: [UInt8], mediaType: String, to repository: Repository, tag: String? = nil) async throws -> Descriptor {
        let descriptor = Descriptor.of(bytes, mediaType: mediaType)
        let reference = tag ?? descriptor.digest.description
        let what = "upload of manifest \(repository):\(reference)"
        let url = apiURL(repository, "manifests/\(reference)")
        let response = try await authorized(repository, what: what) { authorization in
            var headers = HTTPHeaders([("Content-Type", mediaType)])
            if let authorization { headers["Authorization"] = authorization }
            return try await self.http.send(HTTPRequest(method: .put, url: url, headers: headers, body: .bytes(bytes)),
                                            maxBodyBytes: self.configuration.limits.jsonBytes)
        }
        try check(response, what: what)
        if let announced = response.headers["Docker-Content-Digest"], announced != descriptor.digest.description {
            throw OCIError.registry(what: what, reason: "the registry stored it as \(announced), not \(descriptor.digest)")
        }
        return descriptor
    }
}
