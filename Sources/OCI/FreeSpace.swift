#if canImport(Glibc)
import Glibc
#endif

/// What a fetch needs on the store's volume against what is there.
public struct SpaceCheck: Sendable, Equatable {
    /// The store's root (the volume is the file system holding it).
    public let volume: String
    /// Bytes still to download plus the reserve.
    public let neededBytes: Int64
    /// Bytes an unprivileged writer can still use on the volume (statvfs f_bavail).
    public let availableBytes: Int64
    public var fits: Bool { neededBytes <= availableBytes }
}

extension BlobStore {
    /// Compares the bytes still missing for `descriptors` plus `reserveBytes` with the free space
    /// of the store's volume. Measures only; see `requireSpace` to fail early.
    public func spaceCheck(for descriptors: [Descriptor], reserveBytes: Int64) throws(OCIError) -> SpaceCheck {
        var info = statvfs()
        guard statvfs(root, &info) == 0 else {
            let code = errno
            throw OCIError.fileSystem(path: root, operation: "measure the free space of", errno: code,
                                      message: String(cString: strerror(code)))
        }
        let available = Int64(info.f_bavail) * Int64(info.f_frsize)
        return SpaceCheck(volume: root, neededBytes: missingBytes(for: descriptors) + reserveBytes, availableBytes: available)
    }

    /// Fails before the first byte is fetched when the missing blobs plus the reserve do not fit,
    /// naming the volume and both numbers (an ENOSPC half way through a fetch is the alternative).
    @discardableResult
    public func requireSpace(for descriptors: [Descriptor], reserveBytes: Int64) throws(OCIError) -> SpaceCheck {
        let check = try spaceCheck(for: descriptors, reserveBytes: reserveBytes)
        guard check.fits else {
            throw OCIError.insufficientSpace(volume: check.volume, needed: check.neededBytes, available: check.availableBytes)
        }
        return check
    }
}
