import Foundation

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

    /// Extra preprocessor definitions for experiments, from `SWITCHYARD_KERNEL_DEFINES` (space-separated `NAME` or
    /// `NAME=INTEGER`, e.g. `SY_DH_PREFETCH_STEPS=8`): each becomes a `-D` option of every unit, and so part of the
    /// kernel cache's key. For experiments that switch compile-time variants of one binary (the patches in
    /// bench/experiments/ document the names they read); the shipped kernels read none.
    /// Throws on anything else, so that a typo never runs silently as the default.
    public static func experimentDefines(_ value: String?) throws -> [String] {
        guard let value, !value.isEmpty else { return [] }
        return try value.split(separator: " ").map { item in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = parts[0]
            let nameOK = !name.isEmpty && name.first.map { $0 == "_" || $0.isLetter } == true
                && name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
            let valueOK = parts.count == 1 || Int(parts[1]) != nil
            guard nameOK, valueOK else {
                throw CUDAError(rawValue: -1, name: "SWITCHYARD_KERNEL_DEFINES",
                                message: "'\(item)' is not NAME or NAME=INTEGER", call: "KernelSources.experimentDefines")
            }
            return "-D" + item
        }
    }

    /// `compileOptions` plus the experiment definitions of this process's environment.
    public static func options(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [String] {
        compileOptions + (try experimentDefines(environment["SWITCHYARD_KERNEL_DEFINES"]))
    }

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
