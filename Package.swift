// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "FieldSync",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fieldsync", targets: ["fieldsync"]),
        .executable(name: "fieldsync-bench", targets: ["fieldsync-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
    ],
    targets: [
        // C libraries from Debian, wrapped as system-library targets (module.modulemap + shim.h only).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // zstd directly: the bundle reader decompresses the payload itself (and the benchmark's reference pipeline).
        // The bundle writer uses zstd through libarchive.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        // libcurl (OpenSSL flavour), for delivering conflict notifications by SMTP and to webhooks.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),

        // Values, schemas, changes and errors: pure Swift, no C module.
        .target(name: "FieldSyncCore"),
        // The bundle format: envelope (keys, signature, encryption, parts), archive, manifest and batch codec.
        .target(
            name: "FieldSyncBundle",
            dependencies: [
                "FieldSyncCore", "CArchive", "CSodium", "CZstd",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // SQLite connection and the site store.
        .target(name: "FieldSyncSQLite", dependencies: ["FieldSyncCore", "FieldSyncBundle", "CSQLite"]),
        // libpq connection (COPY, prepared statements, cursors) and the PostgreSQL hub store.
        .target(
            name: "FieldSyncPostgres",
            dependencies: ["FieldSyncCore", "CLibPQ", .product(name: "Logging", package: "swift-log")]),
        // The hub's exchange logic over any hub store.
        .target(
            name: "FieldSyncHub",
            dependencies: ["FieldSyncCore", "FieldSyncBundle", .product(name: "Logging", package: "swift-log")]
        ),
        // The site's exchange logic over its SQLite store.
        .target(
            name: "FieldSyncSite",
            dependencies: [
                "FieldSyncCore", "FieldSyncBundle", "FieldSyncSQLite", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Conflict notifications: email over SMTP and webhook posts, through libcurl.
        .target(
            name: "FieldSyncNotify",
            dependencies: ["FieldSyncCore", "CCurl", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "fieldsync",
            dependencies: [
                "FieldSyncCore", "FieldSyncBundle", "FieldSyncSQLite", "FieldSyncPostgres", "FieldSyncHub",
                "FieldSyncSite", "FieldSyncNotify", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fieldsync-bench",
            dependencies: [
                "FieldSyncCore", "FieldSyncBundle", "FieldSyncSQLite", "FieldSyncPostgres", "FieldSyncHub",
                "FieldSyncSite", "CSQLite", "CSodium", "CZstd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fuzz harness (`make fuzz`, and a short run in `make test`): a seeded mutation harness, or with
        // -DFIELDSYNC_LIBFUZZER and -sanitize=fuzzer a libFuzzer target. See docs/testing.md.
        .executableTarget(
            name: "fieldsync-fuzz",
            dependencies: ["FieldSyncCore", "FieldSyncBundle", "FieldSyncTesting"]
        ),
        // Helpers shared by every test target: temporary directories, key fixtures, running the binary.
        .target(
            name: "FieldSyncTesting",
            dependencies: [
                "FieldSyncCore", "FieldSyncBundle", "FieldSyncSQLite", "FieldSyncPostgres", "FieldSyncHub", "FieldSyncSite",
                "CArchive", "CZstd",
            ],
            path: "Sources/FieldSyncTesting"
        ),
        .testTarget(name: "FieldSyncCoreTests", dependencies: ["FieldSyncCore"]),
        .testTarget(name: "FieldSyncBundleTests", dependencies: ["FieldSyncBundle", "FieldSyncTesting", "CArchive"]),
        .testTarget(
            name: "FieldSyncSyncTests",
            dependencies: ["FieldSyncCore", "FieldSyncBundle", "FieldSyncSQLite", "FieldSyncHub", "FieldSyncSite", "FieldSyncTesting"]
        ),
        .testTarget(
            name: "FieldSyncPostgresTests",
            dependencies: [
                "FieldSyncCore", "FieldSyncBundle", "FieldSyncSQLite", "FieldSyncPostgres", "FieldSyncHub", "FieldSyncSite",
                "FieldSyncTesting",
            ]
        ),
        .testTarget(
            name: "FieldSyncCLITests",
            dependencies: ["FieldSyncCore", "FieldSyncBundle", "FieldSyncSQLite", "FieldSyncNotify", "FieldSyncTesting"],
            // Throwaway SMTP and HTTP servers the tests start (Python: aiosmtpd, http.server).
            exclude: ["Support/smtp_server.py", "Support/webhook_server.py"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
