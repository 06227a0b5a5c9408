// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "zgen",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "zgen", targets: ["zgen"]),
        // The runtime, in layers: import what you use (README, "Using zgen from your package").
        .library(name: "ZDaemon", targets: ["ZDaemon"]),
        .library(name: "ZDaemonSecurity", targets: ["ZDaemonSecurity"]),
        .library(name: "ZDaemonProcess", targets: ["ZDaemonProcess"]),
        .library(name: "ZDaemonLifecycle", targets: ["ZDaemonLifecycle"]),
        .library(name: "ZDaemonTesting", targets: ["ZDaemonTesting"]),
        // The INI reader (line:column) that ZDaemonProcess's configuration API exposes.
        .library(name: "INIFormat", targets: ["INIFormat"]),
        // ZGenCore (the generator library) is not a product: its API is zgen's own, not a promise.
        // The seed's example: one server and four workers (issue 4).
        .executable(name: "my-zmq", targets: ["MyZmqExample"]),
        // The log collector (issue 19): a generated daemon (Schemas/zlogd.json) under the process layer.
        .executable(name: "zlogd", targets: ["zlogd"]),
        // Generated daemons against raw libzmq and pyzmq (issue 6).
        .executable(name: "zbench", targets: ["zbench"]),
        // zgen in other packages' builds: generate while building, or regenerate checked-in code.
        .plugin(name: "ZGenBuildPlugin", targets: ["ZGenBuildPlugin"]),
        .plugin(name: "ZGenGenerateCommand", targets: ["ZGenGenerateCommand"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // libzmq (Debian: libzmq3-dev). Its header is in the default include path and the module map
        // links `zmq`. No `pkgConfig: "libzmq"`: Debian's libzmq.pc adds `-isystem` flags (krb5) that
        // SwiftPM rejects with a "prohibited flag" warning on every build, and we build warning-free.
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"]), .brew(["zeromq"])]
        ),
        // A small INI reader that keeps line:column, shared by zgen (schemas) and the runtime (config).
        .target(name: "INIFormat"),
        // The vocabulary the generator and the runtime share: socket types, channel options with
        // their names and ranges, defaults, security modes. Depends on nothing.
        .target(name: "ZGenVocabulary"),
        // The runtime core every generated daemon compiles against: context, sockets, frames, the
        // loop, timers, the daemon, flow control, socket events. No CLI, INI, lifecycle or CURVE.
        .target(
            name: "ZDaemon",
            dependencies: [
                "CZeroMQ",
                "ZGenVocabulary",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // CURVE keys, key files and the ZAP handler; plugs into the core as a ChannelSecurityProvider.
        .target(
            name: "ZDaemonSecurity",
            dependencies: ["ZDaemon", "CZeroMQ", .product(name: "Metrics", package: "swift-metrics")]
        ),
        // The core as a swift-service-lifecycle Service.
        .target(
            name: "ZDaemonLifecycle",
            dependencies: ["ZDaemon", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // Daemon programs: command line, INI configuration and logging, key files, signals, the
        // control channel and the launcher.
        .target(
            name: "ZDaemonProcess",
            dependencies: [
                "ZDaemon",
                "ZDaemonSecurity",
                "ZDaemonLifecycle",
                "INIFormat",
                "CZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Helpers for tests of daemons (users' and ours): awaiting a condition, log capture, the
        // manual clock, daemons on a thread of their own, scratch directories.
        .target(name: "ZDaemonTesting", dependencies: [
            "ZDaemon", .product(name: "Logging", package: "swift-log"), .product(name: "Metrics", package: "swift-metrics"),
        ]),
        // The generator as a library: read -> validate -> model -> render. Never touches sockets.
        .target(name: "ZGenCore", dependencies: ["INIFormat", "ZGenVocabulary"]),
        .executableTarget(
            name: "zgen",
            dependencies: [
                "ZGenCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Plugins (issue 5). Both compile Sources/ZGenCore/OutputNaming.swift through a symlink,
        // so their output names are exactly zgen's.
        .plugin(name: "ZGenBuildPlugin", capability: .buildTool(), dependencies: ["zgen"]),
        .plugin(
            name: "ZGenGenerateCommand",
            capability: .command(
                intent: .custom(
                    verb: "zgen-generate",
                    description: "Regenerate Generated/ from Schemas/ (--check: fail with a diff when stale)"
                ),
                permissions: [.writeToPackageDirectory(reason: "zgen-generate writes the generated Swift into Generated/")]
            ),
            dependencies: ["zgen"]
        ),
        // Uses ZGenBuildPlugin on its own plugin_exchange.zgen.json, so a broken plugin fails the tests.
        .testTarget(name: "PluginTests", dependencies: ["ZDaemon", "ZDaemonTesting"], plugins: ["ZGenBuildPlugin"]),
        // Builds README's example package with nested `swift build` / `swift package zgen-generate`.
        .testTarget(name: "PluginIntegrationTests"),
        // Daemon processes (issue 4): the seed's example on the generated MyZmq daemons (hand-written
        // handlers only) and the process layer's unit tests.
        .executableTarget(
            name: "MyZmqExample",
            dependencies: [
                "ZDaemon",
                "ZDaemonProcess",
                "Generated",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "zlogd",
            dependencies: [
                "ZDaemon",
                "ZDaemonProcess",
                "Generated",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "ZDaemonProcessTests", dependencies: [
            "ZDaemon", "ZDaemonProcess", "ZDaemonTesting", "INIFormat",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .testTarget(name: "ZDaemonLifecycleTests", dependencies: ["ZDaemon", "ZDaemonLifecycle", "ZDaemonTesting"]),
        // Runs the built my-zmq (and pyzmq peers) as real processes.
        .testTarget(name: "IntegrationTests", dependencies: ["MyZmqExample", "zlogd", "ZDaemonTesting", "ZDaemonProcess"]),
        // Pins `zgen --graph mermaid|dot` (Sources/ZGenCore/Graph.swift).
        .testTarget(name: "GraphTests", dependencies: ["ZGenCore"], exclude: ["Schemas"]),
        .testTarget(name: "INIFormatTests", dependencies: ["INIFormat"]),
        .testTarget(
            name: "ZDaemonTests",
            dependencies: [
                "ZDaemon",
                "ZDaemonTesting",
                "CZeroMQ",
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "ZGenCoreTests", dependencies: ["ZGenCore", "ZGenVocabulary"], exclude: ["Golden", "Invalid", "Evolution"]),
        // zgen's checked-in output for every JSON schema at the top of Schemas/, one namespace enum
        // per schema (`zgen Schemas/my_zmq.json -o Generated/`; ZGenCoreTests fails when it is stale).
        .target(name: "Generated", dependencies: ["ZDaemon"], path: "Generated"),
        // The benchmark (issue 6): the raw libzmq baseline in C, and zbench comparing generated
        // daemons (Generated/Bench.swift) with it, with pyzmq, and timing the generator.
        .target(name: "CZBench", dependencies: ["CZeroMQ"]),
        .executableTarget(
            name: "zbench",
            dependencies: [
                "CZBench",
                "CZeroMQ",
                "Generated",
                "ZDaemon",
                "ZGenCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Security (issue 8): zkeys writes and checks CURVE key pairs (CZMQ zcert format) with the
        // runtime's key code; SecurityTests run CURVE, ZAP and the key files over real tcp sockets.
        .executableTarget(
            name: "zkeys",
            dependencies: ["ZDaemonSecurity", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .testTarget(
            name: "SecurityTests",
            dependencies: ["ZDaemon", "ZDaemonSecurity", "ZDaemonProcess", "ZDaemonTesting", "CZeroMQ", "INIFormat", "ZGenCore", "zkeys"],
            exclude: ["Example"]
        ),
        // Compiles the golden generated files and runs generated daemons exchanging typed messages.
        .testTarget(name: "ZGenGoldenTests", dependencies: ["ZDaemon", "ZDaemonTesting"], path: "Tests/ZGenCoreTests/Golden", exclude: ["Schemas"]),
    ],
    swiftLanguageModes: [.v6]
)
