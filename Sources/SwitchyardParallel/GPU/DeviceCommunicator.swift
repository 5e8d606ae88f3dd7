import Switchyard
import SwitchyardCUDA

/// A communicator whose buffers are GPU memory and whose collectives are ordered on a CUDA stream: what the GPU
/// expert-parallel layer (``GPUExpertParallelLayer``) drives. Work that needs a collective's result waits for
/// ``stream`` (through an event); a collective issued after an event wait on ``stream`` sees the work before it.
public protocol DeviceCommunicator: Communicator {
    /// The GPU of this rank.
    var context: CUDAContext { get }
    /// Where this rank's collectives run.
    var stream: CUDAStream { get }
}

extension NCCLCommunicator: DeviceCommunicator {}

/// A host communicator (``InProcessCommunicator``: ranks as threads) made to take GPU buffers: each collective
/// waits for ``stream``, copies the device bytes to the host, runs the host collective and copies the result back.
/// Synchronous and slow: it exists so that several ranks can share one GPU and the GPU expert-parallel layer can be
/// checked with R = 2, 4, 8 on a machine with one GPU (`switchyard check --ranks`). Nothing overlaps through it.
public final class HostStagedCommunicator: DeviceCommunicator, @unchecked Sendable {
    public let context: CUDAContext
    public let stream: CUDAStream
    let host: any Communicator
    public var rank: Int { host.rank }
    public var size: Int { host.size }
    public var device: DeviceKind { .cuda }

    /// Wraps `host` (a communicator of host buffers) for GPU buffers on `context`.
    public init(host: any Communicator, context: CUDAContext) throws {
        guard host.device == .cpu else {
            throw SwitchyardError(.unsupported, "HostStagedCommunicator wraps a host communicator, got one on \(host.device.rawValue)")
        }
        self.host = host
        self.context = context
        stream = try CUDAStream(context: context)
    }

    /// Runs `body` over host copies of `inputs` (downloaded after ``stream`` finished) and `outputs` (zeroed), then
    /// uploads the outputs. Byte counts are elements × the view's element size.
    private func staged(
        inputs: [(TensorView, Int)], outputs: [(TensorView, Int)], _ body: ([TensorView], [TensorView]) throws -> Void
    ) throws {
        try stream.synchronize()
        var inputBytes = try inputs.map { view, count -> [UInt8] in
            var bytes = [UInt8](repeating: 0, count: count * view.dtype.byteSize)
            try bytes.withUnsafeMutableBytes { try context.copy(fromDevice: UInt64(view.address), into: $0) }
            return bytes
        }
        var outputBytes = outputs.map { view, count in [UInt8](repeating: 0, count: count * view.dtype.byteSize) }
        func hostView(_ pointer: UnsafeRawPointer?, _ view: TensorView, _ count: Int) -> TensorView {
            TensorView(address: UInt(bitPattern: pointer), shape: [count], dtype: view.dtype, device: .cpu)
        }
        // Nested closures keep every host array pinned while the host collective runs.
        func withPointers(_ index: Int, _ inViews: [TensorView], _ outViews: [TensorView]) throws {
            if index < inputs.count {
                try inputBytes[index].withUnsafeMutableBytes { raw in
                    try withPointers(index + 1, inViews + [hostView(raw.baseAddress, inputs[index].0, inputs[index].1)], outViews)
                }
            } else if index - inputs.count < outputs.count {
                let j = index - inputs.count
                try outputBytes[j].withUnsafeMutableBytes { raw in
                    try withPointers(index + 1, inViews, outViews + [hostView(raw.baseAddress, outputs[j].0, outputs[j].1)])
                }
            } else {
                try body(inViews, outViews)
            }
        }
        try withPointers(0, [], [])
        for (j, (view, _)) in outputs.enumerated() {
            try outputBytes[j].withUnsafeBytes { try context.copy(toDevice: UInt64(view.address), from: $0) }
        }
    }

    public func allToAllV(send: TensorView, sendCounts: [Int], receive: TensorView, receiveCounts: [Int]) throws {
        try CollectiveChecks.requireAllToAll(
            send: send, sendCounts: sendCounts, receive: receive, receiveCounts: receiveCounts, size: size, device: .cuda)
        try staged(inputs: [(send, sendCounts.reduce(0, +))], outputs: [(receive, receiveCounts.reduce(0, +))]) { i, o in
            try host.allToAllV(send: i[0], sendCounts: sendCounts, receive: o[0], receiveCounts: receiveCounts)
        }
    }

    public func allGather(send: TensorView, receive: TensorView, count: Int) throws {
        try CollectiveChecks.requireBuffer(send, holds: count, "all-gather send buffer", device: .cuda)
        try CollectiveChecks.requireBuffer(receive, holds: count * size, "all-gather receive buffer", device: .cuda)
        try staged(inputs: [(send, count)], outputs: [(receive, count * size)]) { i, o in
            try host.allGather(send: i[0], receive: o[0], count: count)
        }
    }

    public func reduceScatter(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws {
        try CollectiveChecks.requireBuffer(send, holds: count * size, "reduce-scatter send buffer", device: .cuda)
        try CollectiveChecks.requireBuffer(receive, holds: count, "reduce-scatter receive buffer", device: .cuda)
        try staged(inputs: [(send, count * size)], outputs: [(receive, count)]) { i, o in
            try host.reduceScatter(send: i[0], receive: o[0], count: count, op: op)
        }
    }

    public func allReduce(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws {
        try CollectiveChecks.requireBuffer(send, holds: count, "all-reduce send buffer", device: .cuda)
        try CollectiveChecks.requireBuffer(receive, holds: count, "all-reduce receive buffer", device: .cuda)
        try staged(inputs: [(send, count)], outputs: [(receive, count)]) { i, o in
            try host.allReduce(send: i[0], receive: o[0], count: count, op: op)
        }
    }
}
