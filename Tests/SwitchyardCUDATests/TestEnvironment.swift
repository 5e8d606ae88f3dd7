import Foundation
import Testing
import SwitchyardCUDA

/// When the NVRTC and GPU tests run. NVRTC tests must run (and fail when NVRTC cannot be loaded) in CI and
/// wherever `scripts/install-cuda-wheels.sh` has filled `.deps/cuda`; elsewhere they run only when NVRTC loads.
enum TestEnvironment {
    static let nvrtcRequired: Bool =
        ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false
        || FileManager.default.fileExists(atPath: ".deps/cuda")

    static let nvrtcEnabled: Bool = nvrtcRequired || (try? NVRTCCompiler()) != nil

    static let gpuPresent: Bool = (try? CUDAContext.open()) != nil

    static let nvrtcSkipReason: Comment =
        "NVRTC not found and not required here (no CI variable, no .deps/cuda): run scripts/install-cuda-wheels.sh"
    static let gpuSkipReason: Comment = "no CUDA GPU on this machine: runs on the GPU machine"

    /// A fresh empty folder under the system temporary folder.
    static func temporaryDirectory(_ label: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("switchyard-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Creates an empty file (and its folders).
    static func touch(_ url: URL) throws {
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data().write(to: url)
    }
}
