import CSwitchyardCUDA

/// A failed CUDA driver or NVRTC call: the raw result code, its name, the library's message and the call that
/// failed. A struct rather than an enum, so that result codes this file does not know never break it.
///
/// ```swift
/// do { _ = try context.allocate(bytes: 1 << 40) } catch let error as CUDAError {
///     print(error)  // cuMemAlloc failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory
/// }
/// ```
public struct CUDAError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The `CUresult` or `nvrtcResult` code; `-1` when the library itself could not be loaded.
    public var rawValue: Int32
    /// The code's name, e.g. `CUDA_ERROR_OUT_OF_MEMORY` or `NVRTC_ERROR_COMPILATION`.
    public var name: String
    /// What went wrong, in the library's words, with any detail Switchyard adds (a compile log, a search list).
    public var message: String
    /// The call that failed, e.g. `cuMemAlloc`.
    public var call: String

    public init(rawValue: Int32, name: String, message: String, call: String) {
        self.rawValue = rawValue
        self.name = name
        self.message = message
        self.call = call
    }

    public var description: String { "\(call) failed: \(name) (\(rawValue)): \(message)" }

    /// The result code the shim returns when a library is not loaded.
    static let notLoaded = Int32(SY_ERROR_NOT_LOADED)

    /// An error for a driver result, named and described by the driver itself.
    static func driver(_ result: Int32, call: String) -> CUDAError {
        if result == notLoaded {
            return CUDAError(rawValue: result, name: "SWITCHYARD_DRIVER_NOT_LOADED",
                             message: "the CUDA driver library is not loaded", call: call)
        }
        var name: UnsafePointer<CChar>?
        var message: UnsafePointer<CChar>?
        _ = sy_cuGetErrorName(result, &name)
        _ = sy_cuGetErrorString(result, &message)
        return CUDAError(rawValue: result, name: name.map { String(cString: $0) } ?? "CUDA_ERROR_\(result)",
                         message: message.map { String(cString: $0) } ?? "unknown CUDA error", call: call)
    }

    /// An error for an NVRTC result; `detail` (e.g. the compile log) follows NVRTC's own message.
    static func nvrtc(_ result: Int32, call: String, detail: String = "") -> CUDAError {
        let name = String(cString: sy_nvrtcGetErrorString(result))
        let message = detail.isEmpty ? name : "\(name)\n\(detail)"
        return CUDAError(rawValue: result, name: name, message: message, call: call)
    }
}

/// Throws a ``CUDAError`` unless a driver call returned `CUDA_SUCCESS`.
@inline(__always)
func check(_ result: Int32, _ call: @autoclosure () -> String) throws(CUDAError) {
    if result != 0 { throw CUDAError.driver(result, call: call()) }
}
