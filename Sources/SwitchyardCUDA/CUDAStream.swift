import CSwitchyardCUDA

/// A CUDA stream: work issued to it runs in order. It synchronizes with the default stream, as the synchronous
/// copies of ``DeviceBuffer`` use that one.
///
/// ```swift
/// let stream = try CUDAStream(context: context)
/// try function.launch(grid: (132, 1, 1), block: (128, 1, 1), stream: stream, arguments: arguments)
/// try stream.synchronize()
/// ```
public final class CUDAStream: @unchecked Sendable {
    public let context: CUDAContext
    /// The `CUstream`, for handing to other CUDA libraries (NCCL, cuBLASLt).
    public let handle: OpaquePointer

    public init(context: CUDAContext) throws {
        try context.makeCurrent()
        var stream: sy_CUstream?
        try check(sy_cuStreamCreate(&stream, 0), "cuStreamCreate")
        guard let stream else {
            throw CUDAError(rawValue: 0, name: "CUDA_ERROR_INVALID_HANDLE", message: "the driver returned no stream",
                            call: "cuStreamCreate")
        }
        self.context = context
        self.handle = stream
    }

    deinit {
        _ = sy_cuCtxSetCurrent(context.handle)
        _ = sy_cuStreamDestroy(handle)
    }

    /// Makes work issued to this stream after this call wait for the work before `event`'s last record (on any
    /// stream); the host does not wait.
    public func wait(for event: CUDAEvent) throws {
        try context.makeCurrent()
        try check(sy_cuStreamWaitEvent(handle, event.handle, 0), "cuStreamWaitEvent")
    }

    /// Enqueues a copy of `bytes` bytes between device addresses (same context); the host does not wait.
    public func copy(from source: UInt64, to destination: UInt64, bytes: Int) throws {
        guard bytes > 0 else { return }
        try context.makeCurrent()
        try check(sy_cuMemcpyDtoDAsync(destination, source, bytes, handle), "cuMemcpyDtoDAsync(\(bytes) bytes)")
    }

    /// Waits until all work issued to this stream has finished.
    public func synchronize() throws {
        try context.makeCurrent()
        try check(sy_cuStreamSynchronize(handle), "cuStreamSynchronize")
    }
}
