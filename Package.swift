// swift-tools-version: 6.0
import PackageDescription

/// Tessera: distributed whole-slide segmentation with an ensemble of CNNs.
///
/// Layers, bottom up:
/// - `C*` system-library targets expose the C libraries through pkg-config; nothing above
///   the Swift wrappers (`ZeroMQ`, `TIFF`, `OpenBLAS`, `Zlib`) sees a C type.
/// - `Shared` is what coordinator and workers both speak: slides, tiling, blending,
///   Kaggle formats, configuration.
/// - `Engine` runs models on tiles; `Worker` hosts one ensemble member; `Coordinator`
///   cuts slides, schedules tiles and stitches; `tessera` is the one command line.
let package = Package(
    name: "Tessera",
    products: [
        .executable(name: "tessera", targets: ["tessera"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
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

        .target(name: "Shared", dependencies: ["TIFF", "Zlib", "ZeroMQ"]),
        // The innermost loops, built for baseline x86-64 and (from the same files, through a
        // symlink) for AVX2; the engine picks one at run time.
        .target(name: "EngineKernels"),
        .target(name: "EngineKernelsHaswell", swiftSettings: [.unsafeFlags(["-target-cpu", "haswell"]), .define("TESSERA_FMA")]),
        .target(name: "Engine", dependencies: ["Shared", "OpenBLAS", "EngineKernels", "EngineKernelsHaswell"]),
        .target(name: "Worker", dependencies: ["Shared", "Engine", "ZeroMQ"]),
        .target(name: "Coordinator", dependencies: ["Shared", "ZeroMQ"]),
        // Fuzz targets for the wire codec and each message handler; `tessera fuzz` runs them
        // seeded, `tessera-fuzz` is their libFuzzer build (`make fuzz`).
        .target(name: "Fuzzing", dependencies: ["Shared", "Coordinator", "Worker", "ZeroMQ"]),
        .executableTarget(name: "tessera-fuzz", dependencies: ["Fuzzing"]),
        .executableTarget(
            name: "tessera",
            dependencies: [
                "Shared", "Engine", "Worker", "Coordinator", "ZeroMQ", "Fuzzing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        .testTarget(name: "WrapperTests", dependencies: ["ZeroMQ", "TIFF", "OpenBLAS", "Zlib"]),
        .testTarget(
            name: "SharedTests",
            dependencies: ["Shared", "TIFF"],
            resources: [.copy("Fixtures")]
        ),
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "PipelineTests", dependencies: ["Shared", "Engine", "Worker", "Coordinator", "TestSupport"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Shared", "EngineKernels", "EngineKernelsHaswell"],
                    resources: [.copy("Goldens")]),
        .testTarget(name: "ClusterTests", dependencies: ["Shared", "Coordinator", "Worker", "ZeroMQ", "TestSupport"]),
        .testTarget(name: "WorkerTests", dependencies: ["Worker", "Shared"]),
        .testTarget(name: "FuzzTests", dependencies: ["Fuzzing", "Shared", "Worker"], resources: [.copy("Regressions")]),
    ]
)
