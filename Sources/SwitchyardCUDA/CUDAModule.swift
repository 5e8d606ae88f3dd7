import CSwitchyardCUDA
import Switchyard

/// A cubin loaded onto a GPU; unloaded when the last reference (including its functions') goes away.
///
/// ```swift
/// let kernels = try NVRTCCompiler().compile(source: source, name: "scale.cu", architecture: context.architecture)
/// let module = try CUDAModule(context: context, cubin: kernels.cubin)
/// let scale = try module.function(named: "scale")
/// ```
public final class CUDAModule: @unchecked Sendable {
    public let context: CUDAContext
    let handle: OpaquePointer

    public init(context: CUDAContext, cubin: [UInt8]) throws {
        guard !cubin.isEmpty else {
            throw SwitchyardError(.invalidConfiguration, "cannot load an empty cubin")
        }
        try context.makeCurrent()
        var module: sy_CUmodule?
        try cubin.withUnsafeBytes { try check(sy_cuModuleLoadData(&module, $0.baseAddress), "cuModuleLoadData") }
        guard let module else {
            throw CUDAError(rawValue: 0, name: "CUDA_ERROR_INVALID_IMAGE", message: "the driver returned no module",
                            call: "cuModuleLoadData")
        }
        self.context = context
        self.handle = module
    }

    deinit {
        _ = sy_cuCtxSetCurrent(context.handle)
        _ = sy_cuModuleUnload(handle)
    }

    /// The kernel with this (unmangled `extern "C"`, or mangled) name.
    public func function(named name: String) throws -> CUDAFunction {
        try context.makeCurrent()
        var function: sy_CUfunction?
        try check(sy_cuModuleGetFunction(&function, handle, name), "cuModuleGetFunction(\(name))")
        guard let function else {
            throw CUDAError(rawValue: 0, name: "CUDA_ERROR_NOT_FOUND", message: "the driver returned no function",
                            call: "cuModuleGetFunction(\(name))")
        }
        return try CUDAFunction(module: self, name: name, handle: function)
    }
}
