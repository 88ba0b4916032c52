import COSTree
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif
import OtterCrypto

/// A physical root holding `/ostree/repo` and `/ostree/deploy/<os>`: the device's `/`, or a
/// throw-away directory made with `ostree admin init-fs` in tests and image builds.
public final class Sysroot: @unchecked Sendable {
    public let path: String
    let handle: GObjectBox
    let queue: BlockingQueue
    private var repoCache: Repo?

    private init(path: String, handle: GObjectBox) {
        self.path = path
        self.handle = handle
        self.queue = BlockingQueue(label: "otter.ostree.sysroot")
    }

    var pointer: OpaquePointer { handle.pointer }

    /// Loads the sysroot at `path` (default `/`).
    public static func load(at path: String = "/") async throws -> Sysroot {
        let context = "loading sysroot \(path)"
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw OSTreeError(message: "\(path) does not exist or is not a directory; pass --sysroot with the root of an OSTree system",
                              context: context)
        }
        guard FileManager.default.fileExists(atPath: path == "/" ? "/ostree/repo" : "\(path)/ostree/repo") else {
            throw OSTreeError(message: "\(path) is not an OSTree sysroot (no ostree/repo in it); create one with `ostree admin init-fs \(path)` or pass the right --sysroot",
                              context: context)
        }
        let handle = withGFile(path) { GObjectBox(owning: ostree_sysroot_new($0)) }
        let sysroot = Sysroot(path: path, handle: handle)
        try await sysroot.queue.run { try sysroot.reloadNow() }
        return sysroot
    }

    func reloadNow() throws {
        try gcall("loading sysroot \(path)") { ostree_sysroot_load(pointer, nil, $0).isTrue }
    }

    /// The sysroot's repository (`/ostree/repo`).
    public func repo() async throws -> Repo {
        try await queue.run { try self.repoNow() }
    }

    func repoNow() throws -> Repo {
        if let repoCache { return repoCache }
        var out: OpaquePointer? = nil
        try gcall("opening the repo of sysroot \(path)") { ostree_sysroot_get_repo(pointer, &out, nil, $0).isTrue }
        let repo = Repo(handle: GObjectBox(owning: out!), path: "\(path == "/" ? "" : path)/ostree/repo")
        repoCache = repo
        return repo
    }

    public var isBooted: Bool { queue.sync { ostree_sysroot_is_booted(pointer).isTrue } }

    /// Every deployment in boot order.
    public func deployments() async throws -> [Deployment] {
        try await queue.run { try self.deploymentsNow() }
    }

    func handlesNow() -> [OpaquePointer] {
        guard let array = ostree_sysroot_get_deployments(pointer) else { return [] }
        defer { g_ptr_array_unref(array) }
        return (0..<Int(array.pointee.len)).map { OpaquePointer(array.pointee.pdata[$0]!) }
    }

    func deploymentsNow() throws -> [Deployment] {
        let handles = handlesNow()
        let booted = ostree_sysroot_get_booted_deployment(pointer)
        let bootedIndex = handles.firstIndex { $0 == booted }
        // ostree's own notion (ostree_sysroot_query_deployments_for): the first deployment before
        // the booted one is pending, the first after it is the rollback. Not booted (an image or a
        // test sysroot): index 0 boots next and index 1 is the fallback.
        let pendingIndex: Int? = bootedIndex.flatMap { $0 > 0 ? 0 : nil }
        let rollbackIndex: Int? = bootedIndex.map { $0 + 1 < handles.count ? $0 + 1 : nil } ?? (handles.count > 1 ? 1 : nil)
        let repo = try repoNow()
        return try handles.enumerated().map { index, d in
            let checksum = String(cString: ostree_deployment_get_csum(d))
            var refspec: String? = nil
            if let origin = ostree_deployment_get_origin(d) {
                refspec = takeString(g_key_file_get_string(origin, "origin", "refspec", nil))
            }
            var kargs: String? = nil
            if let bootconfig = ostree_deployment_get_bootconfig(d), let options = ostree_bootconfig_parser_get(bootconfig, "options") {
                kargs = String(cString: options)
            }
            let relative = takeString(ostree_sysroot_get_deployment_dirpath(pointer, d)) ?? ""
            let version = try? repo.commitNow(checksum).version
            return Deployment(
                index: index, osname: String(cString: ostree_deployment_get_osname(d)), checksum: checksum,
                serial: Int(ostree_deployment_get_deployserial(d)), origin: refspec, version: version,
                kernelArguments: kargs, path: path == "/" ? "/\(relative)" : "\(path)/\(relative)",
                isBooted: index == bootedIndex, isPending: index == pendingIndex, isRollback: index == rollbackIndex,
                isStaged: ostree_deployment_is_staged(d).isTrue, isPinned: ostree_deployment_is_pinned(d).isTrue)
        }
    }

    func handleNow(for deployment: Deployment) throws -> OpaquePointer {
        guard let match = handlesNow().first(where: {
            String(cString: ostree_deployment_get_csum($0)) == deployment.checksum
                && Int(ostree_deployment_get_deployserial($0)) == deployment.serial
                && String(cString: ostree_deployment_get_osname($0)) == deployment.osname
        }) else {
            throw OSTreeError(message: "deployment \(deployment.name) is no longer in the sysroot", context: "sysroot \(path)")
        }
        return match
    }

    /// Runs a change under the sysroot lock (the one `ostree admin` takes), then reloads.
    func locked<T>(_ what: String, _ body: () throws -> T) throws -> T {
        var acquired: gboolean = 0
        try gcall("locking sysroot \(path) for \(what)") { ostree_sysroot_try_lock(pointer, &acquired, $0).isTrue }
        guard acquired.isTrue else {
            throw OSTreeError(message: "another process holds the sysroot lock (an `ostree admin` or `otter` command is running); try again when it is done",
                              context: "\(what) in \(path)")
        }
        defer { ostree_sysroot_unlock(pointer) }
        let result = try body()
        try reloadNow()
        return result
    }

    func writeDeploymentsNow(_ handles: [OpaquePointer], context: String) throws {
        let array = g_ptr_array_new()!
        defer { g_ptr_array_unref(array) }
        for handle in handles { g_ptr_array_add(array, UnsafeMutableRawPointer(handle)) }
        try gcall(context) { ostree_sysroot_write_deployments(pointer, array, nil, $0).isTrue }
    }
}
