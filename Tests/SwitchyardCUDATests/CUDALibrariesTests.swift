import Foundation
import Testing
@testable import SwitchyardCUDA

@Suite("CUDA library discovery")
struct CUDALibrariesTests {
    @Test("SWITCHYARD_CUDA_HOME is searched first, in the toolkit layout, with its include and CCCL folders")
    func explicitHomeWins() throws {
        let home = try TestEnvironment.temporaryDirectory("home")
        let other = try TestEnvironment.temporaryDirectory("other")
        defer { try? FileManager.default.removeItem(at: home); try? FileManager.default.removeItem(at: other) }
        try TestEnvironment.touch(home.appendingPathComponent("lib64/libnvrtc.so.13"))
        try TestEnvironment.touch(home.appendingPathComponent("include/cuda_bf16.h"))
        try FileManager.default.createDirectory(at: home.appendingPathComponent("include/cccl"),
                                                withIntermediateDirectories: true)
        try TestEnvironment.touch(other.appendingPathComponent("lib64/libnvrtc.so.13"))
        let context = CUDALibraries.SearchContext(environment: ["SWITCHYARD_CUDA_HOME": home.path,
                                                                "CUDA_HOME": other.path])

        let location = CUDALibraries.locate(.nvrtc, in: context)
        #expect(location.path == home.path + "/lib64/libnvrtc.so.13")
        #expect(location.source == "SWITCHYARD_CUDA_HOME")
        #expect(!location.isLoaderSearch)
        #expect(CUDALibraries.includeDirectories(in: context) == [home.path + "/include", home.path + "/include/cccl"])
    }

    @Test("CUDA_HOME is used when SWITCHYARD_CUDA_HOME is unset")
    func cudaHome() throws {
        let home = try TestEnvironment.temporaryDirectory("cudahome")
        defer { try? FileManager.default.removeItem(at: home) }
        try TestEnvironment.touch(home.appendingPathComponent("targets/x86_64-linux/lib/libcublasLt.so.13"))
        let context = CUDALibraries.SearchContext(environment: ["CUDA_HOME": home.path])
        let location = CUDALibraries.locate(.cublasLt, in: context)
        #expect(location.path == home.path + "/targets/x86_64-linux/lib/libcublasLt.so.13")
        #expect(location.source == "CUDA_HOME")
    }

    @Test("the wheels folder .deps/cuda is found from the current directory and from above the executable")
    func wheelsFolder() throws {
        let project = try TestEnvironment.temporaryDirectory("project")
        defer { try? FileManager.default.removeItem(at: project) }
        let library = project.appendingPathComponent(".deps/cuda/nvidia/cu13/lib/libnvrtc.so.13")
        try TestEnvironment.touch(library)
        try TestEnvironment.touch(project.appendingPathComponent(".deps/cuda/nvidia/cu13/include/cuda_bf16.h"))

        // Without the machine-wide folders, which may hold CUDA too (they come first).
        let fromDirectory = CUDALibraries.locate(
            .nvrtc, in: .init(environment: [:], currentDirectory: project.path, systemRoots: []))
        #expect(fromDirectory.path == library.path)
        #expect(fromDirectory.source == ".deps/cuda")

        let executable = project.appendingPathComponent(".build/x86_64-unknown-linux-gnu/release").path
        let fromExecutable = CUDALibraries.locate(
            .nvrtc, in: .init(environment: [:], currentDirectory: "/nonexistent", executableDirectory: executable,
                              systemRoots: []))
        #expect(fromExecutable.path == library.path)
        #expect(fromExecutable.source == ".deps/cuda (executable)")
        #expect(CUDALibraries.includeDirectories(in: .init(environment: [:], currentDirectory: project.path,
                                                           systemRoots: []))
            == [project.path + "/.deps/cuda/nvidia/cu13/include"])
    }

    @Test("python site-packages from PYTHONPATH hold the nvidia wheels")
    func sitePackages() throws {
        let packages = try TestEnvironment.temporaryDirectory("site")
        defer { try? FileManager.default.removeItem(at: packages) }
        try TestEnvironment.touch(packages.appendingPathComponent("nvidia/nccl/lib/libnccl.so.2"))
        let context = CUDALibraries.SearchContext(environment: ["PYTHONPATH": "/nonexistent:\(packages.path)"],
                                                  systemRoots: [])
        let location = CUDALibraries.locate(.nccl, in: context)
        #expect(location.path == packages.path + "/nvidia/nccl/lib/libnccl.so.2")
        #expect(location.source == "python site-packages")
    }

    @Test("roots come in the documented order")
    func rootOrder() {
        let context = CUDALibraries.SearchContext(
            environment: ["SWITCHYARD_CUDA_HOME": "/a", "CUDA_HOME": "/b", "CUDA_PATH": "/c"],
            currentDirectory: "/work", executableDirectory: "/opt/bin")
        let roots = CUDALibraries.roots(in: context).map(\.path)
        #expect(Array(roots.prefix(7)) == ["/a", "/b", "/c", "/usr/local/cuda", "/work/.deps/cuda",
                                           "/opt/bin/.deps/cuda", "/opt/.deps/cuda"])
    }

    @Test("a library found nowhere is left to the dynamic loader by soname, and the report says what failed")
    func loaderFallbackAndReport() throws {
        let empty = try TestEnvironment.temporaryDirectory("empty")
        defer { try? FileManager.default.removeItem(at: empty) }
        let context = CUDALibraries.SearchContext(environment: ["SWITCHYARD_CUDA_HOME": empty.path],
                                                  currentDirectory: empty.path)
        let location = CUDALibraries.locate(.driver, in: context)
        #expect(!location.path.hasPrefix(empty.path))
        #expect(location.isLoaderSearch == (location.path == "libcuda.so.1"))

        let report = CUDALibraries.report(in: context) { location in
            location.library == .nccl ? "no such file" : nil
        }
        let lines = report.split(separator: "\n")
        #expect(lines.count == CUDALibrary.allCases.count + 1)
        #expect(lines.contains { $0.hasPrefix("libnccl.so.2") && $0.hasSuffix("NOT LOADABLE: no such file") })
        #expect(lines.contains { $0.hasPrefix("libnvrtc.so.13") && $0.hasSuffix("ok") })
    }
}

@Suite("NVRTC builtins beside NVRTC")
struct NVRTCBuiltinsTests {
    @Test("the builtins library in NVRTC's folder is found; the .alt variant is not taken")
    func builtinsBesideNVRTC() throws {
        let home = try TestEnvironment.temporaryDirectory("builtins")
        defer { try? FileManager.default.removeItem(at: home) }
        for name in ["libnvrtc.so.13", "libnvrtc-builtins.alt.so.13.0", "libnvrtc-builtins.so.13.0"] {
            try TestEnvironment.touch(home.appendingPathComponent("nvidia/cu13/lib/\(name)"))
        }
        let nvrtc = CUDALibraries.locate(.nvrtc, in: .init(environment: ["SWITCHYARD_CUDA_HOME": home.path]))
        #expect(CUDALibraries.nvrtcBuiltins(besides: nvrtc) == home.path + "/nvidia/cu13/lib/libnvrtc-builtins.so.13.0")
        let loader = CUDALibraryLocation(library: .nvrtc, path: "libnvrtc.so.13", source: "loader")
        #expect(CUDALibraries.nvrtcBuiltins(besides: loader) == nil)
    }
}
