// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Switchyard",
    platforms: [.macOS(.v15)],
    products: [
        // MARK: - Public API
        .library(name: "Switchyard", targets: ["Switchyard"]),
        .library(name: "SwitchyardFormats", targets: ["SwitchyardFormats"]),
        .library(name: "SwitchyardIO", targets: ["SwitchyardIO"]),
        .library(name: "SwitchyardModel", targets: ["SwitchyardModel"]),
        .library(name: "SwitchyardCUDA", targets: ["SwitchyardCUDA"]),
        .library(name: "SwitchyardParallel", targets: ["SwitchyardParallel"]),
        .executable(name: "switchyard", targets: ["switchyard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Core: configuration, routing, the CPU reference layer
        .target(name: "Switchyard", dependencies: ["SwitchyardFormats"]),
        // MARK: - Number formats: bf16, FP8, E8M0, MXFP8, block scales
        .target(name: "SwitchyardFormats"),
        // MARK: - safetensors and checkpoint name mapping
        .target(name: "SwitchyardIO", dependencies: ["Switchyard", "SwitchyardFormats"]),
        // MARK: - Performance model and planner
        .target(name: "SwitchyardModel", dependencies: ["Switchyard"]),
        // MARK: - CUDA: dlopen shim, runtime, NVRTC, kernels, GPU backend
        .target(name: "CSwitchyardCUDA", linkerSettings: [.linkedLibrary("dl")]),
        .target(
            name: "SwitchyardCUDA",
            dependencies: ["Switchyard", "SwitchyardFormats", "CSwitchyardCUDA"],
            exclude: ["Kernels/README.md"],
            resources: [
                .embedInCode("Kernels/moe_common.cuh"),
                .embedInCode("Kernels/moe_router.cu"),
                .embedInCode("Kernels/moe_grouped_gemm.cu"),
                .embedInCode("Kernels/moe_elementwise.cu"),
                .embedInCode("Kernels/moe_weight_grad.cu"),
                .embedInCode("Kernels/moe_optimizer.cu"),
            ]
        ),
        // MARK: - Expert parallelism: communicators and the EP layer
        .target(name: "SwitchyardParallel", dependencies: ["Switchyard", "SwitchyardCUDA", "SwitchyardFormats"]),
        // MARK: - Command-line tool
        .executableTarget(
            name: "switchyard",
            dependencies: [
                "Switchyard", "SwitchyardFormats", "SwitchyardIO", "SwitchyardModel", "SwitchyardCUDA",
                "SwitchyardParallel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // MARK: - Tests
        .testTarget(name: "SwitchyardTests", dependencies: ["Switchyard"]),
        .testTarget(
            name: "SwitchyardFormatsTests", dependencies: ["SwitchyardFormats"],
            resources: [.copy("Vectors")]
        ),
        .testTarget(name: "SwitchyardIOTests", dependencies: ["SwitchyardIO", "Switchyard", "SwitchyardFormats"]),
        .testTarget(name: "SwitchyardModelTests", dependencies: ["SwitchyardModel", "Switchyard"]),
        .testTarget(name: "SwitchyardCUDATests", dependencies: ["SwitchyardCUDA", "Switchyard"]),
        .testTarget(name: "SwitchyardParallelTests", dependencies: ["SwitchyardParallel", "Switchyard"]),
    ],
    swiftLanguageModes: [.v6]
)
