/// What failed in publishing, fetching, unpacking or pruning compose apps, on what, and what to
/// do next. Registry and blob errors stay `OCIError`, archive errors `ArchiveError`.
public enum AppStoreError: Error, Sendable, CustomStringConvertible, Equatable {
    case invalidComposeFile(String, reason: String)
    /// A service's image is not pinned by digest (`image` nil: the service has no `image:`).
    case unpinnedImage(service: String, image: String?, file: String)
    case invalidAppURI(String, reason: String)
    /// An OCI manifest that is not a compose-app v1 manifest.
    case notAComposeApp(String, reason: String)
    case invalidBundle(String, reason: String)
    /// `storedApp` found the app (or part of it) missing from the store.
    case notFetched(name: String, uri: String, missing: String)
    /// Another `otter apps` process holds the store's lock.
    case storeBusy(String)
    case invalidState(String, reason: String)
    case fileSystem(path: String, operation: String, message: String)

    public var description: String {
        switch self {
        case .invalidComposeFile(let path, let reason):
            return "compose file \(path): \(reason)"
        case .unpinnedImage(let service, let image, let file):
            let what = image.map { "image \($0)" } ?? "no image"
            return "service \(service) in \(file) has \(what), not pinned by digest; every image of a compose app must be `name@sha256:<digest>` (publish with --pin to resolve tags through the registry)"
        case .invalidAppURI(let uri, let reason):
            return "invalid app URI \(uri): \(reason); expected registry/repository@sha256:<64 hex>"
        case .notAComposeApp(let what, let reason):
            return "\(what) is not a compose app (compose-app v1): \(reason); check that the URI names an app published with `otter-factory apps publish` or composectl"
        case .invalidBundle(let what, let reason):
            return "app bundle \(what): \(reason)"
        case .notFetched(let name, let uri, let missing):
            return "app \(name) (\(uri)) is not fetched: \(missing) is missing from the store; run `otter apps fetch \(name)=\(uri)`"
        case .storeBusy(let root):
            return "the app store \(root) is in use by another otter process; wait for it to finish and try again"
        case .invalidState(let path, let reason):
            return "app store state \(path): \(reason); remove the file to forget the references (then fetch the current apps again)"
        case .fileSystem(let path, let operation, let message):
            return "cannot \(operation) \(path): \(message); check free space and permissions of the app store"
        }
    }
}
