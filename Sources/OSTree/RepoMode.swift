import COSTree

public enum RepoMode: String, Sendable, CaseIterable, Codable {
    case archive
    case bare
    case bareUser = "bare-user"
    case bareUserOnly = "bare-user-only"

    var cValue: OstreeRepoMode {
        switch self {
        case .archive: OSTREE_REPO_MODE_ARCHIVE
        case .bare: OSTREE_REPO_MODE_BARE
        case .bareUser: OSTREE_REPO_MODE_BARE_USER
        case .bareUserOnly: OSTREE_REPO_MODE_BARE_USER_ONLY
        }
    }

    init?(_ mode: OstreeRepoMode) {
        switch mode {
        case OSTREE_REPO_MODE_ARCHIVE: self = .archive
        case OSTREE_REPO_MODE_BARE: self = .bare
        case OSTREE_REPO_MODE_BARE_USER: self = .bareUser
        case OSTREE_REPO_MODE_BARE_USER_ONLY: self = .bareUserOnly
        default: return nil
        }
    }
}
