/// The parts of Docker Engine API documents (v1.41) that Otter reads. dockerd and podman's
/// compatible service both produce them; unknown fields are ignored.

public struct EngineVersion: Decodable, Sendable, Equatable {
    public var version: String
    public var apiVersion: String
    public var os: String?
    public var arch: String?

    enum CodingKeys: String, CodingKey {
        case version = "Version", apiVersion = "ApiVersion", os = "Os", arch = "Arch"
    }
}

/// `GET /images/json` and `GET /images/{name}/json`.
public struct EngineImage: Decodable, Sendable, Equatable {
    /// `sha256:<hex>`: the config digest (the containerd image store of newer dockerd may use
    /// the manifest digest instead).
    public var id: String
    public var repoTags: [String]

    enum CodingKeys: String, CodingKey {
        case id = "Id", repoTags = "RepoTags"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        repoTags = try container.decodeIfPresent([String].self, forKey: .repoTags) ?? []
    }
}

/// `GET /containers/json`.
public struct EngineContainerSummary: Decodable, Sendable, Equatable {
    public var id: String
    public var names: [String]
    public var image: String
    public var labels: [String: String]
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited`, `dead`.
    public var state: String

    enum CodingKeys: String, CodingKey {
        case id = "Id", names = "Names", image = "Image", labels = "Labels", state = "State"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        names = try container.decodeIfPresent([String].self, forKey: .names) ?? []
        image = try container.decodeIfPresent(String.self, forKey: .image) ?? ""
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        state = try container.decodeIfPresent(String.self, forKey: .state) ?? ""
    }
}

/// `GET /containers/{id}/json`.
public struct EngineContainer: Decodable, Sendable, Equatable {
    public struct Config: Decodable, Sendable, Equatable {
        public var image: String
        public var labels: [String: String]
        /// The health check command (`["CMD", …]`, `["CMD-SHELL", …]`); empty or `["NONE"]`
        /// when there is none.
        public var healthcheckTest: [String]

        public var hasHealthcheck: Bool { !healthcheckTest.isEmpty && healthcheckTest != ["NONE"] }

        enum CodingKeys: String, CodingKey {
            case image = "Image", labels = "Labels", healthcheck = "Healthcheck"
        }

        struct Healthcheck: Decodable {
            var Test: [String]?
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            image = try container.decodeIfPresent(String.self, forKey: .image) ?? ""
            labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
            healthcheckTest = try container.decodeIfPresent(Healthcheck.self, forKey: .healthcheck)?.Test ?? []
        }
    }

    public struct State: Decodable, Sendable, Equatable {
        public var status: String
        public var exitCode: Int
        public var restarting: Bool
        public var health: Health?

        enum CodingKeys: String, CodingKey {
            case status = "Status", exitCode = "ExitCode", restarting = "Restarting", health = "Health"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            status = try container.decodeIfPresent(String.self, forKey: .status) ?? ""
            exitCode = try container.decodeIfPresent(Int.self, forKey: .exitCode) ?? 0
            restarting = try container.decodeIfPresent(Bool.self, forKey: .restarting) ?? false
            health = try container.decodeIfPresent(Health.self, forKey: .health)
        }
    }

    public struct Health: Decodable, Sendable, Equatable {
        /// `starting`, `healthy`, `unhealthy` (podman: empty before its first check).
        public var status: String
        public var failingStreak: Int

        enum CodingKeys: String, CodingKey {
            case status = "Status", failingStreak = "FailingStreak"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            status = try container.decodeIfPresent(String.self, forKey: .status) ?? ""
            failingStreak = try container.decodeIfPresent(Int.self, forKey: .failingStreak) ?? 0
        }
    }

    public var id: String
    public var name: String
    public var config: Config
    public var state: State

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", config = "Config", state = "State"
    }
}

/// One line of the JSON stream `POST /images/load` answers with.
struct EngineLoadMessage: Decodable {
    var stream: String?
    var error: String?
}
