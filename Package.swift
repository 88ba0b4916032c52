// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Otter",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "otter", targets: ["otter"]),
        .executable(name: "tuf-conformance-client", targets: ["tuf-conformance-client"]),
        .executable(name: "otter-factory", targets: ["otter-factory"]),
        .executable(name: "otter-supervisor", targets: ["otter-supervisor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The factory's database only: GRDB imports Foundation, so the device's state store uses
        // SQLite's C API (CSQLite) instead.
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The factory's device gateway only (never linked into `otter`). No traits: no
        // swift-configuration, and FoundationEssentials instead of full Foundation.
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // The factory database's PostgreSQL engine (factory side only, never linked into `otter`).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // C shims: one system library each, imported by exactly one Swift module.
        .systemLibrary(name: "COSTree", pkgConfig: "ostree-1",
                       providers: [.apt(["libostree-dev", "libglib2.0-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Compose files are YAML: the only way to check and pin every `image:` reliably.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),

        // Wrappers over the C libraries.
        .target(name: "OtterCrypto", dependencies: ["COpenSSL"]),
        .target(name: "OSTree", dependencies: ["COSTree", "OtterCrypto"]),
        .target(name: "HTTP", dependencies: ["CCurl"]),
        .target(name: "Archive", dependencies: ["CArchive"]),

        // Pure logic.
        .target(name: "TUF", dependencies: ["OtterCrypto", "HTTP"]),
        .target(name: "OCI", dependencies: ["HTTP", "OtterCrypto"]),
        .target(name: "Bootloader"),
        // sd_notify(3) without libsystemd or Foundation (the daemon and its supervisor).
        .target(name: "SystemdNotify"),
        .target(name: "ComposeApps", dependencies: [
            "Archive", "OCI", "HTTP", "OtterCrypto", "CYAML",
        ]),
        .target(name: "Updater", dependencies: [
            "TUF", "HTTP", "OSTree", "OCI", "ComposeApps", "Bootloader", "OtterCrypto", "CSQLite", "ConfigSyntax",
            "SystemdNotify",
        ]),
        // Config text both sides write or check: update windows, TOML strings (device: Updater; factory: Gateway).
        .target(name: "ConfigSyntax"),

        // Front ends and executables.
        .target(name: "OtterCLI", dependencies: [
            "OSTree", "OtterCrypto", "TUF", "HTTP", "OCI", "ComposeApps", "Bootloader", "Updater", "ConfigSyntax", "SystemdNotify",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .target(name: "Factory", dependencies: ["TUF", "OSTree", "OtterCrypto"]),
        .target(name: "Gateway", dependencies: [
            "Factory", "OtterCrypto", "TUF", "ConfigSyntax",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "PostgresNIO", package: "postgres-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // MCU firmware served from an OCI registry by semver tag, cosign-verified (factory only).
        .target(name: "Firmware", dependencies: [
            "OCI", "HTTP", "OtterCrypto", "Bootloader",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "FactoryCLI", dependencies: [
            "Factory", "Gateway", "Firmware", "ConfigSyntax", "TUF", "OSTree", "OCI", "HTTP", "ComposeApps", "OtterCrypto",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ],
        // Command-line glue only (the work is in Factory/Gateway, optimised): Swift 6.3.1's
        // optimiser crashes (signal 11 splitting the async `waves` commands' coroutines) on it.
        swiftSettings: [.unsafeFlags(["-Onone"], .when(configuration: .release))]),
        .executableTarget(name: "otter", dependencies: [
            "OtterCLI", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "tuf-conformance-client", dependencies: ["TUF", "HTTP"]),
        .executableTarget(name: "otter-factory", dependencies: ["FactoryCLI"]),
        // What `otter daemon` becomes (exec, same PID): it sleeps between checks and runs each
        // check as a child `otter` process, so the daemon holds no libraries while idle.
        .executableTarget(name: "otter-supervisor", dependencies: ["SystemdNotify"]),

        // Test helpers shared by the test targets (running programs, loopback ports).
        .target(name: "TestSupport", dependencies: ["OtterCrypto"], path: "Tests/TestSupport", exclude: ["serve.py"]),
        .testTarget(name: "OtterCryptoTests", dependencies: ["OtterCrypto", "TestSupport"]),
        .testTarget(name: "OSTreeTests", dependencies: ["OSTree", "OtterCrypto", "otter", "TestSupport"]),
        .testTarget(name: "TUFTests", dependencies: ["TUF", "OtterCrypto", "HTTP", "tuf-conformance-client", "otter"],
                    exclude: ["Interop"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"]),
        .testTarget(name: "OCITests", dependencies: ["OCI", "HTTP", "OtterCrypto", "TestSupport"]),
        .testTarget(name: "BootloaderTests", dependencies: ["Bootloader", "TestSupport"]),
        .testTarget(name: "ArchiveTests", dependencies: ["Archive", "TestSupport"]),
        .testTarget(name: "ComposeAppsTests", dependencies: [
            "ComposeApps", "OCI", "HTTP", "Archive", "OtterCrypto", "TestSupport", "otter", "otter-factory",
        ]),
        .testTarget(name: "FactoryTests", dependencies: ["Factory", "TUF", "OSTree", "OtterCrypto", "TestSupport", "otter-factory"]),
        // The files image builders take (systemd units, U-Boot/GRUB scripts, the Yocto layer),
        // checked by the tools of their ecosystems (systemd-analyze, mkimage + U-Boot in QEMU,
        // grub-script-check, oelint-adv).
        .testTarget(name: "IntegrationTests", dependencies: ["Bootloader", "TestSupport"]),
        // The device and the factory together on real components: registry, podman, libostree.
        .testTarget(name: "EndToEndTests", dependencies: [
            "Updater", "Bootloader", "OSTree", "TestSupport", "otter", "otter-factory", "otter-supervisor",
        ]),
        .testTarget(name: "GatewayTests", dependencies: [
            "Gateway", "Factory", "OtterCrypto", "HTTP", "OSTree", "TestSupport", "otter-factory", "otter", "TUF", "Updater", "ConfigSyntax",
        ]),
        .testTarget(name: "FirmwareTests", dependencies: [
            "Firmware", "OCI", "HTTP", "OtterCrypto", "TestSupport", "otter-factory",
        ]),
        .testTarget(name: "UpdaterTests", dependencies: [
            "Updater", "TUF", "OSTree", "ComposeApps", "Bootloader", "OtterCrypto", "TestSupport", "otter", "ConfigSyntax",
            "SystemdNotify",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
