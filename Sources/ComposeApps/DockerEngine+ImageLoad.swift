import Archive
import FoundationEssentials
import Glibc
import HTTP

extension DockerEngine {
    /// Loads an image from the app store into the engine with `POST /images/load`, named `tags`.
    ///
    /// The body is a docker-archive tarball (`docker save` layout: `manifest.json` =
    /// `[{"Config":"<hex>.json","RepoTags":[…],"Layers":["<hex>/layer.tar",…]}]`, the config,
    /// one `layer.tar` per layer) built while it uploads: a thread writes it with libarchive into
    /// a pipe whose other end is the request body, so no image is ever held in memory or copied
    /// to disk. Layers go in as stored, compressed: dockerd (`DecompressStream` in its tar
    /// loader) and podman (containers/image docker-archive) both detect and inflate gzip and
    /// zstd layers, and check the result against the config's `rootfs.diff_ids`.
    public func load(_ image: StoredImage, tags: [String]) async throws(DockerEngineError) {
        let doing = "load image \(image.reference)"
        for path in [image.configPath] + image.layers.map(\.path) where access(path, R_OK) != 0 {
            throw failure(.imageLoad, doing, "\(path) is missing from the app store (\(String(cString: strerror(errno))))")
        }
        var fds: [Int32] = [-1, -1]
        guard makeCloseOnExecPipe(&fds) else {
            throw failure(.imageLoad, doing, "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let archive = DockerArchive(image: image, tags: tags)
        let producer = Task { try await DedicatedThread.run("docker-archive writer") { try archive.write(to: writeEnd) } }

        var response: HTTPResponse?
        var sendError: DockerEngineError?
        do {
            response = try await send(.post, "/images/load?quiet=1", body: .stream(fileDescriptor: readEnd),
                                      headers: ["Content-Type": "application/x-tar"], doing: doing,
                                      timeout: .seconds(24 * 3600))
        } catch {
            sendError = error
        }
        // Closing the read end unblocks a writer the engine stopped reading from (EPIPE).
        close(readEnd)
        let produced = await producer.result
        switch (produced, sendError) {
        case (.failure(let writeError), nil):
            throw failure(.imageLoad, doing, "cannot build the image archive from the store: \(writeError)")
        case (.failure(let writeError), let sendError?):
            // Either side may have caused the other's failure: say both.
            throw failure(.imageLoad, doing, "\(sendError.message) (and the archive writer stopped: \(writeError))")
        case (.success, let sendError?):
            throw DockerEngineError(kind: sendError.kind == .status(500) ? .imageLoad : sendError.kind, socketPath: socketPath,
                                    operation: doing, message: sendError.message)
        case (.success, nil):
            break
        }
        // The answer is a JSON stream; dockerd reports some failures inside a 200.
        for line in String(decoding: response?.body ?? [], as: UTF8.self).split(whereSeparator: \.isNewline) {
            if let message = try? JSONDecoder().decode(EngineLoadMessage.self, from: Data(line.utf8)), let error = message.error {
                throw failure(.imageLoad, doing, error)
            }
        }
    }
}

/// The docker-archive tarball of one stored image.
struct DockerArchive: Sendable {
    var image: StoredImage
    var tags: [String]

    struct ManifestEntry: Encodable {
        var Config: String
        var RepoTags: [String]
        var Layers: [String]
    }

    var manifest: [UInt8] {
        let entry = ManifestEntry(Config: "\(image.configDigest.hex).json", RepoTags: tags,
                                  Layers: image.layers.map { "\($0.digest.hex)/layer.tar" })
        // Encoding three string fields cannot fail.
        return Array((try? JSONEncoder().encode([entry])) ?? Data())
    }

    /// Writes the tar into `fd` and closes it (end of the request body).
    func write(to fd: Int32) throws {
        // A write into a pipe nobody reads must fail with EPIPE, not kill the process.
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        // The writer is gone (and flushed or abandoned) before the descriptor is closed.
        defer { close(fd) }
        try writeEntries(to: fd)
    }

    private func writeEntries(to fd: Int32) throws {
        let writer = try ArchiveWriter(fileDescriptor: fd, name: "docker-archive of \(image.reference)", compression: .none)
        try writer.addFile("manifest.json", bytes: manifest)
        try writer.addFile("\(image.configDigest.hex).json", contentsOf: image.configPath, mode: 0o644)
        var written: Set<String> = []
        for layer in image.layers where written.insert(layer.digest.hex).inserted {
            try writer.addDirectory(layer.digest.hex)
            try writer.addFile("\(layer.digest.hex)/layer.tar", contentsOf: layer.path, mode: 0o644)
        }
        try writer.finish()
    }
}
