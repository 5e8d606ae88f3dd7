/// The CUDA sources of Switchyard's kernels, embedded in the binary (Package.swift lists each file of `Kernels/`
/// with `.embedInCode`), so that a static `switchyard` binary compiles them with NVRTC wherever it runs.
///
/// Adding a kernel file: list it in Package.swift and add its line here (a test checks that the two agree with
/// the `Kernels/` folder).
///
/// ```swift
/// for (name, source) in KernelSources.all {
///     let kernels = try cache.compiled(source: source, name: name, headers: KernelSources.headers,
///                                      architecture: "sm_90a")
/// }
/// ```
public enum KernelSources {
    /// The compilation units (`.cu` files), by file name.
    public static let all: [(name: String, source: String)] = [
        ("moe_elementwise.cu", text(PackageResources.moe_elementwise_cu)),
        ("moe_grouped_gemm.cu", text(PackageResources.moe_grouped_gemm_cu)),
        ("moe_optimizer.cu", text(PackageResources.moe_optimizer_cu)),
        ("moe_router.cu", text(PackageResources.moe_router_cu)),
        ("moe_weight_grad.cu", text(PackageResources.moe_weight_grad_cu)),
    ]

    /// The headers (`.cuh` files) the units include by name, e.g. `#include "moe_common.cuh"`.
    public static let headers: [String: String] = [
        "moe_common.cuh": text(PackageResources.moe_common_cuh),
    ]

    /// The NVRTC options every kernel is compiled with, by the GPU backend and by the compile check in CI alike
    /// (``NVRTCCompiler`` adds the target, `-Xptxas=-v` and the include folders).
    public static let compileOptions = ["--std=c++17", "-default-device"]

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
