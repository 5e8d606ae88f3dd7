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
    /// uploads the outputs. Each (view, count) takes count × the view's element size bytes of one host arena.
    private func staged(
        inputs: [(TensorView, Int)], outputs: [(TensorView, Int)], _ body: ([TensorView], [TensorView]) throws -> Void
    ) throws {
        try stream.synchronize()
        let all = inputs + outputs
        var starts = [0]
        for (view, count) in all { starts.append(starts.last! + count * view.dtype.byteSize) }
        var arena = [UInt8](repeating: 0, count: max(starts.last!, 1))
        try arena.withUnsafeMutableBytes { raw in
            func bytes(_ i: Int) -> UnsafeMutableRawBufferPointer {
                UnsafeMutableRawBufferPointer(rebasing: raw[starts[i]..<starts[i + 1]])
            }
            for i in inputs.indices { try context.copy(fromDevice: UInt64(all[i].0.address), into: bytes(i)) }
            let views = all.indices.map { i in
                TensorView(address: UInt(bitPattern: raw.baseAddress! + starts[i]), shape: [all[i].1], dtype: all[i].0.dtype,
                           device: .cpu)
            }
            try body(Array(views[..<inputs.count]), Array(views[inputs.count...]))
            for i in inputs.count..<all.count {
                try context.copy(toDevice: UInt64(all[i].0.address), from: UnsafeRawBufferPointer(bytes(i)))
            }
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
