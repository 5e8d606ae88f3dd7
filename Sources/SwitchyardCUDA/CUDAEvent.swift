import CSwitchyardCUDA

/// A CUDA event, for timing GPU work between two recorded points or ordering one stream after another.
///
/// ```swift
/// let start = try CUDAEvent(context: context), end = try CUDAEvent(context: context)
/// try start.record(on: stream)
/// try function.launch(grid: grid, block: block, stream: stream, arguments: arguments)
/// try end.record(on: stream)
/// try end.synchronize()
/// let milliseconds = try end.elapsedMilliseconds(since: start)
/// ```
public final class CUDAEvent: @unchecked Sendable {
    public let context: CUDAContext
    let handle: OpaquePointer

    /// `timing: false` makes an event for ordering streams only (CU_EVENT_DISABLE_TIMING: cheaper to record and
    /// wait on; ``elapsedMilliseconds(since:)`` fails on it).
    public init(context: CUDAContext, timing: Bool = true) throws {
        try context.makeCurrent()
        var event: sy_CUevent?
        try check(sy_cuEventCreate(&event, timing ? 0 : 2), "cuEventCreate")
        guard let event else {
            throw CUDAError(rawValue: 0, name: "CUDA_ERROR_INVALID_HANDLE", message: "the driver returned no event",
                            call: "cuEventCreate")
        }
        self.context = context
        self.handle = event
    }

    deinit {
        _ = sy_cuCtxSetCurrent(context.handle)
        _ = sy_cuEventDestroy(handle)
    }

    /// Records the event on `stream` (the default stream when nil).
    public func record(on stream: CUDAStream? = nil) throws {
        try context.makeCurrent()
        try check(sy_cuEventRecord(handle, stream?.handle), "cuEventRecord")
    }

    /// Waits until the work before the last ``record(on:)`` has finished.
    public func synchronize() throws {
        try context.makeCurrent()
        try check(sy_cuEventSynchronize(handle), "cuEventSynchronize")
    }

    /// Milliseconds of GPU time from `start` to this event; both must have been recorded and completed.
    public func elapsedMilliseconds(since start: CUDAEvent) throws -> Float {
        try context.makeCurrent()
        var milliseconds: Float = 0
        try check(sy_cuEventElapsedTime(&milliseconds, start.handle, handle), "cuEventElapsedTime")
        return milliseconds
    }
}
