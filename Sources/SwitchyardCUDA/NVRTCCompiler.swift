import CSwitchyardCUDA
import Switchyard

#if canImport(Glibc)
import Glibc
#endif

/// The CUDA run-time compiler (NVRTC), loaded with dlopen: turns CUDA C++ into a cubin for one GPU architecture,
/// with no GPU needed.
///
/// ```swift
/// let compiler = try NVRTCCompiler()
/// let kernels = try compiler.compile(source: source, name: "scale.cu", architecture: "sm_90a")
/// print(kernels.resources["scale"]?.registers ?? 0)
/// ```
public struct NVRTCCompiler: Sendable {
    /// NVRTC's version, e.g. (13, 0).
    public let version: (major: Int, minor: Int)
    /// Where NVRTC was loaded from.
    public let location: CUDALibraryLocation
    /// The `-I` folders added to every compile: the CUDA headers and CCCL (see ``CUDALibraries``).
    public let includeDirectories: [String]

    /// The outcome of the one load per process.
    private static let loaded: Result<CUDALibraryLocation, CUDAError> = load()

    /// Loads NVRTC (once per process). Throws a ``CUDAError`` naming where it looked when it is not there.
    public init() throws {
        location = try Self.loaded.get()
        var major: Int32 = 0
        var minor: Int32 = 0
        let result = sy_nvrtcVersion(&major, &minor)
        guard result == 0 else { throw CUDAError.nvrtc(result, call: "nvrtcVersion") }
        version = (Int(major), Int(minor))
        includeDirectories = CUDALibraries.includeDirectories()
    }

    /// Compiles one translation unit to a cubin for `architecture` (e.g. `sm_90a`).
    ///
    /// - Parameters:
    ///   - headers: sources that `#include "name"` finds, by name.
    ///   - options: NVRTC options; the target (`--gpu-architecture`), `-Xptxas=-v` (for ``CompiledKernels/resources``)
    ///     and `-I` for the CUDA headers are added.
    /// - Throws: a ``CUDAError`` whose message holds the full compile log when compilation fails.
    public func compile(source: String, name: String, headers: [String: String] = [:], options: [String] = [],
                        architecture: String) throws -> CompiledKernels {
        guard Self.isValidArchitecture(architecture) else {
            throw SwitchyardError(.invalidConfiguration,
                                  "unknown GPU architecture '\(architecture)': expected sm_XY or sm_XYa, e.g. sm_90a")
        }
        let allOptions = options + ["--gpu-architecture=\(architecture)"]
            + (options.contains("-Xptxas=-v") ? [] : ["-Xptxas=-v"]) + includeDirectories.map { "-I\($0)" }
        let sortedHeaders = headers.sorted { $0.key < $1.key }
        let program = try CStrings(sortedHeaders.map(\.value)) { headerSources in
            try CStrings(sortedHeaders.map(\.key)) { includeNames in
                var program: sy_nvrtcProgram?
                let result = sy_nvrtcCreateProgram(&program, source, name, Int32(headers.count), headerSources,
                                                   includeNames)
                guard result == 0, let program else {
                    throw CUDAError.nvrtc(result, call: "nvrtcCreateProgram(\(name))")
                }
                return program
            }
        }
        var destroyable: sy_nvrtcProgram? = program
        defer { _ = sy_nvrtcDestroyProgram(&destroyable) }
        let compiled = CStrings(allOptions) { sy_nvrtcCompileProgram(program, Int32(allOptions.count), $0) }
        let log = Self.log(of: program)
        guard compiled == 0 else {
            throw CUDAError.nvrtc(compiled, call: "nvrtcCompileProgram(\(name), \(architecture))",
                                  detail: "compile log:\n\(log)")
        }
        var size = 0
        var result = sy_nvrtcGetCUBINSize(program, &size)
        guard result == 0 else { throw CUDAError.nvrtc(result, call: "nvrtcGetCUBINSize(\(name))") }
        var cubin = [UInt8](repeating: 0, count: size)
        result = cubin.withUnsafeMutableBytes { sy_nvrtcGetCUBIN(program, $0.baseAddress?.assumingMemoryBound(to: CChar.self)) }
        guard result == 0 else { throw CUDAError.nvrtc(result, call: "nvrtcGetCUBIN(\(name))") }
        return CompiledKernels(cubin: cubin, log: log)
    }

    /// `sm_` followed by digits and an optional `a` (architecture-specific) or `f` (family) suffix.
    static func isValidArchitecture(_ architecture: String) -> Bool {
        guard architecture.hasPrefix("sm_") else { return false }
        var digits = architecture.dropFirst(3)
        if digits.last == "a" || digits.last == "f" { digits = digits.dropLast() }
        return !digits.isEmpty && digits.allSatisfy(\.isASCIIDigit)
    }

    private static func log(of program: sy_nvrtcProgram) -> String {
        var size = 0
        guard sy_nvrtcGetProgramLogSize(program, &size) == 0, size > 1 else { return "" }
        var bytes = [CChar](repeating: 0, count: size)
        guard sy_nvrtcGetProgramLog(program, &bytes) == 0 else { return "" }
        return String(nulTerminated: bytes)
    }

    private static func load() -> Result<CUDALibraryLocation, CUDAError> {
        let location = CUDALibraries.locate(.nvrtc)
        var message = [CChar](repeating: 0, count: 1024)
        // NVRTC opens its builtins library by soname at compile time; the loader finds it only on the loader path,
        // so one beside libnvrtc (a wheels folder, a toolkit off that path) is opened first.
        if let builtins = CUDALibraries.nvrtcBuiltins(besides: location),
           sy_library_preload(builtins, &message, message.count) != 0 {
            return .failure(CUDAError(rawValue: CUDAError.notLoaded, name: "SWITCHYARD_NVRTC_NOT_FOUND",
                                      message: String(nulTerminated: message), call: "dlopen(\(builtins))"))
        }
        guard sy_nvrtc_load(location.path, &message, message.count) == 0 else {
            return .failure(CUDAError(
                rawValue: CUDAError.notLoaded, name: "SWITCHYARD_NVRTC_NOT_FOUND",
                message: "\(String(nulTerminated: message)). Run scripts/install-cuda-wheels.sh (NVRTC wheels into "
                    + ".deps/cuda), or set SWITCHYARD_CUDA_HOME to a CUDA 13 toolkit or wheels folder.",
                call: "dlopen(\(location.path))"))
        }
        return .success(location)
    }
}

/// Calls `body` with a C array of C strings that live for the call.
private func CStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) throws -> R) rethrows -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) }
    return try pointers.withUnsafeBufferPointer { try body($0.baseAddress) }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
