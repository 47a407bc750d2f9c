// swift-tools-version: 6.0
import PackageDescription

/// Tessera: distributed whole-slide segmentation with an ensemble of CNNs.
///
/// Layers, bottom up (docs/ARCHITECTURE.md; `ArchitectureTests` checks the walls):
/// - `C*` system-library targets expose the C libraries through pkg-config; nothing above
///   the Swift wrappers (`ZeroMQ`, `TIFF`, `OpenBLAS`, `Zlib`) sees a C type.
/// - `Core` is what everything stands on; `Segmentation` segments a slide on one machine;
///   `Shared` is what coordinator and workers both speak over the network.
/// - `Engine` runs models on tiles and knows no network; `Worker` hosts one ensemble
///   member; `Coordinator` cuts slides, schedules tiles and stitches, and never sees the
///   engine; `tessera` is the one command line.
let package = Package(
    name: "Tessera",
    products: [
        .executable(name: "tessera", targets: ["tessera"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Logs (swift-log), metrics (swift-metrics, exported by swift-prometheus) and the
        // HTTP endpoint that serves them (SwiftNIO's HTTP/1 pipeline: two routes need no framework).
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.65.0"),
    ],
    targets: [
        .systemLibrary(name: "CZeroMQ", pkgConfig: "libzmq", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CTIFF", pkgConfig: "libtiff-4", providers: [.apt(["libtiff-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .target(name: "TIFF", dependencies: ["CTIFF"]),
        .target(name: "OpenBLAS", dependencies: ["COpenBLAS"]),
        .target(name: "Zlib", dependencies: ["CZlib"]),
        // OpenSlide is loaded at run time (dlopen) when installed: no build dependency.
        .target(name: "OpenSlide"),

        // What everything stands on: errors, logs, pixel images, the predictor interface, RNG.
        .target(name: "Core", dependencies: [.product(name: "Logging", package: "swift-log")]),
        // A job's vocabulary and arithmetic, without I/O: its settings, the tile plan, tissue
        // maps, map encodings and flips, resampling to a member's scale, blending and stitching.
        .target(name: "Tiling", dependencies: ["Core"]),
        // Segmenting a slide on one machine: slide I/O, Kaggle formats, synthetic slides,
        // stain normalisation, and the single-process pipeline.
        .target(name: "Segmentation", dependencies: ["Core", "Tiling", "TIFF", "Zlib", "OpenSlide"]),
        // What coordinator and workers both speak: wire messages, cluster.conf, sockets.
        .target(name: "Shared", dependencies: ["Core", "Tiling", "ZeroMQ"]),
        // The innermost loops, built for baseline x86-64 and (from the same files, through
        // symlinks) for AVX2 and AVX-512; the engine picks one at run time.
        .target(name: "EngineKernels"),
        .target(name: "EngineKernelsHaswell", swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"]), .define("TESSERA_FMA")]),
        .target(
            name: "EngineKernelsSkylakeX",
            swiftSettings: [.unsafeFlags(["-target-cpu", "skylake-avx512"]), .define("TESSERA_FMA"), .define("TESSERA_AVX512")]),
        .target(name: "Engine", dependencies: ["Core", "OpenBLAS", "EngineKernels", "EngineKernelsHaswell", "EngineKernelsSkylakeX"]),
        // Training a member: data sets of slides and masks, the training loop, checkpoints.
        .target(name: "Training", dependencies: ["Core", "Segmentation", "Tiling", "Engine"]),
        // An ensemble member's predictor from its configuration: what a worker hosts and what
        // `tessera infer --config` computes alike.
        .target(name: "Members", dependencies: ["Core", "Segmentation", "Shared", "Engine"]),
        .target(name: "Worker", dependencies: ["Core", "Tiling", "Shared", "Engine", "Members", "Training", "ZeroMQ"]),
        .target(
            name: "Coordinator",
            dependencies: [
                "Core", "Segmentation", "Tiling", "Shared", "ZeroMQ",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]),
        // A coordinator's client: submits slides and training runs, follows them, fetches
        // their masks and models (`tessera submit`, `tessera train --config`, `tessera status`).
        .target(name: "Client", dependencies: ["Core", "Shared", "ZeroMQ"]),
        // Fuzz targets for the wire codec and each message handler; `tessera fuzz` runs them
        // seeded, `tessera-fuzz` is their libFuzzer build (`make fuzz`).
        .target(name: "Fuzzing", dependencies: ["Core", "Segmentation", "Shared", "Client", "Coordinator", "Worker", "ZeroMQ"]),
        .executableTarget(name: "tessera-fuzz", dependencies: ["Fuzzing"]),
        // The operator's window on a running coordinator: /metrics (Prometheus text) and a
        // status page, over HTTP.
        .target(
            name: "HTTPStatus",
            dependencies: [
                "Core",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // Deterministic simulation of the cluster's decisions (coordinator and workers) over a
        // simulated network, clock and disk: `tessera simulate`, and SimulationTests.
        .target(name: "Simulation", dependencies: ["Core", "Tiling", "Shared", "Coordinator", "Worker"]),
        .executableTarget(
            name: "tessera",
            dependencies: [
                "Core", "Segmentation", "Tiling", "Shared", "Engine", "Members", "Training", "Worker", "Coordinator", "Client", "ZeroMQ", "Fuzzing",
                "Simulation",
                "OpenBLAS",
                "TIFF",
                "HTTPStatus",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Each module's unit tests in its own target; what runs real processes in Integration.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "WrapperTests", dependencies: ["ZeroMQ", "TIFF", "OpenBLAS", "Zlib", "OpenSlide"]),
        .testTarget(name: "CoreTests", dependencies: ["Core", .product(name: "Logging", package: "swift-log")]),
        .testTarget(name: "SegmentationTests", dependencies: ["Core", "Segmentation", "Tiling", "TIFF", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "SharedTests", dependencies: ["Core", "Segmentation", "Tiling", "Shared", "ZeroMQ"]),
        .testTarget(
            name: "EngineTests", dependencies: ["Core", "Engine", "EngineKernels", "EngineKernelsHaswell", "EngineKernelsSkylakeX", "TestSupport"],
            resources: [.copy("Goldens")]),
        .testTarget(
            name: "TrainingTests", dependencies: ["Core", "Segmentation", "Tiling", "Engine", "Training", "Shared", "Worker", "ZeroMQ", "TestSupport"]),
        .testTarget(name: "WorkerTests", dependencies: ["Core", "Shared", "Worker"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Core", "Segmentation", "Tiling", "Shared", "Coordinator", "TestSupport"]),
        .testTarget(name: "ClientTests", dependencies: ["Core", "Shared", "Client"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation"], resources: [.copy("Regressions")]),
        .testTarget(name: "FuzzTests", dependencies: ["Core", "Shared", "Worker", "Fuzzing"], resources: [.copy("Regressions")]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Core", "Segmentation", "Tiling", "Shared", "Engine", "Members", "Worker", "Coordinator", "ZeroMQ", "OpenSlide",
                "TestSupport",
            ]),
    ]
)
