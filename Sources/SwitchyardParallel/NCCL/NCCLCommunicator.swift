import CSwitchyardCUDA
import Switchyard
import SwitchyardCUDA

/// One rank of an NCCL group, bound to one GPU. Buffers are device memory (``TensorView`` with
/// `device == .cuda`); collectives are enqueued on ``stream`` (or the stream passed) and return before the
/// transfer ends: order later work on the same stream, or synchronize it.
///
/// One node, one process for all its GPUs:
/// ```swift
/// let contexts = try (0..<count).map { try CUDAContext.open(ordinal: $0) }
/// let comms = try NCCLCommunicator.initAll(contexts: contexts)
/// try NCCLLibrary.group { for comm in comms { try comm.allReduce(send: s[comm.rank], receive: r[comm.rank], count: n, op: .sum) } }
/// ```
/// Several nodes, one process per GPU:
/// ```swift
/// let id = try NCCLRendezvous.tcp(host: "node0", port: 29500).uniqueID(rank: rank, size: size)
/// let comm = try NCCLCommunicator(rank: rank, size: size, uniqueID: id, context: CUDAContext.open(ordinal: localRank))
/// ```
public final class NCCLCommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    public var device: DeviceKind { .cuda }
    public let context: CUDAContext
    /// Where the collectives of the ``Communicator`` protocol are enqueued.
    public let stream: CUDAStream
    let handle: sy_nccl_comm_t

    private init(handle: sy_nccl_comm_t, rank: Int, size: Int, context: CUDAContext) throws {
        self.handle = handle
        self.rank = rank
        self.size = size
        self.context = context
        stream = try CUDAStream(context: context)
    }

    deinit {
        _ = try? context.makeCurrent()
        _ = sy_nccl_comm_destroy(handle)
    }

    /// Joins rank `rank` of a `size`-rank group; every rank passes the same `uniqueID` (from ``NCCLRendezvous``).
    /// Blocks until all ranks have joined.
    public convenience init(rank: Int, size: Int, uniqueID: [UInt8], context: CUDAContext) throws {
        guard size >= 1, (0..<size).contains(rank) else {
            throw SwitchyardError(.invalidConfiguration, "NCCL rank \(rank) must be in 0..<\(size)")
        }
        guard uniqueID.count == NCCLLibrary.uniqueIDBytes else {
            throw SwitchyardError(
                .invalidConfiguration, "an NCCL unique id holds \(NCCLLibrary.uniqueIDBytes) bytes, got \(uniqueID.count)")
        }
        try NCCLLibrary.load()
        try context.makeCurrent()
        var id = sy_nccl_unique_id()
        withUnsafeMutableBytes(of: &id) { $0.copyBytes(from: uniqueID) }
        var handle: sy_nccl_comm_t?
        try checkNCCL(sy_nccl_comm_init_rank(&handle, Int32(size), &id, Int32(rank)), "ncclCommInitRank(rank \(rank) of \(size))")
        try self.init(handle: handle!, rank: rank, size: size, context: context)
    }

    /// One communicator per GPU of this process, rank r on `contexts[r]` (ncclCommInitAll).
    public static func initAll(contexts: [CUDAContext]) throws -> [NCCLCommunicator] {
        guard !contexts.isEmpty else {
            throw SwitchyardError(.invalidConfiguration, "ncclCommInitAll needs at least one GPU")
        }
        try NCCLLibrary.load()
        var handles = [sy_nccl_comm_t?](repeating: nil, count: contexts.count)
        let devices = contexts.map { Int32($0.ordinal) }
        try checkNCCL(sy_nccl_comm_init_all(&handles, Int32(contexts.count), devices), "ncclCommInitAll(\(devices))")
        return try contexts.indices.map { r in
            try NCCLCommunicator(handle: handles[r]!, rank: r, size: contexts.count, context: contexts[r])
        }
    }

    public func allToAllV(send: TensorView, sendCounts: [Int], receive: TensorView, receiveCounts: [Int]) throws {
        try allToAllV(send: send, sendCounts: sendCounts, receive: receive, receiveCounts: receiveCounts, on: stream)
    }

    /// All-to-all-v as grouped ncclSend/ncclRecv on `stream`; bytes move as uint8 so any dtype (FP8 too) travels.
    public func allToAllV(
        send: TensorView, sendCounts: [Int], receive: TensorView, receiveCounts: [Int], on stream: CUDAStream
    ) throws {
        try CollectiveChecks.requireAllToAll(
            send: send, sendCounts: sendCounts, receive: receive, receiveCounts: receiveCounts, size: size, device: .cuda)
        let width = send.dtype.byteSize
        try context.makeCurrent()
        try NCCLLibrary.group {
            var sendOffset = 0
            var receiveOffset = 0
            for peer in 0..<size {
                if sendCounts[peer] > 0 {
                    try checkNCCL(
                        sy_nccl_send(
                            pointer(send, sendOffset), sendCounts[peer] * width, Int32(sy_nccl_uint8), Int32(peer), handle,
                            UnsafeMutableRawPointer(stream.handle)), "ncclSend(to \(peer))")
                }
                if receiveCounts[peer] > 0 {
                    try checkNCCL(
                        sy_nccl_recv(
                            pointer(receive, receiveOffset), receiveCounts[peer] * width, Int32(sy_nccl_uint8),
                            Int32(peer), handle, UnsafeMutableRawPointer(stream.handle)), "ncclRecv(from \(peer))")
                }
                sendOffset += sendCounts[peer] * width
                receiveOffset += receiveCounts[peer] * width
            }
        }
    }

    public func allGather(send: TensorView, receive: TensorView, count: Int) throws {
        try allGather(send: send, receive: receive, count: count, on: stream)
    }

    public func allGather(send: TensorView, receive: TensorView, count: Int, on stream: CUDAStream) throws {
        try CollectiveChecks.requireBuffer(send, holds: count, "all-gather send buffer", device: .cuda)
        try CollectiveChecks.requireBuffer(receive, holds: count * size, "all-gather receive buffer", device: .cuda)
        try context.makeCurrent()
        try checkNCCL(
            sy_nccl_all_gather(
                pointer(send, 0), pointer(receive, 0), count * send.dtype.byteSize, Int32(sy_nccl_uint8), handle,
                UnsafeMutableRawPointer(stream.handle)), "ncclAllGather")
    }

    public func reduceScatter(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws {
        try reduceScatter(send: send, receive: receive, count: count, op: op, on: stream)
    }

    public func reduceScatter(
        send: TensorView, receive: TensorView, count: Int, op: ReductionOperation, on stream: CUDAStream
    ) throws {
        let type = try reductionType(send.dtype)
        try CollectiveChecks.requireBuffer(send, holds: count * size, "reduce-scatter send buffer", device: .cuda)
        try CollectiveChecks.requireBuffer(receive, holds: count, "reduce-scatter receive buffer", device: .cuda)
        try context.makeCurrent()
        try checkNCCL(
            sy_nccl_reduce_scatter(
                pointer(send, 0), pointer(receive, 0), count, type, NCCLLibrary.operation(op), handle,
                UnsafeMutableRawPointer(stream.handle)), "ncclReduceScatter")
    }

    public func allReduce(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws {
        try allReduce(send: send, receive: receive, count: count, op: op, on: stream)
    }

    public func allReduce(
        send: TensorView, receive: TensorView, count: Int, op: ReductionOperation, on stream: CUDAStream
    ) throws {
        let type = try reductionType(send.dtype)
        try CollectiveChecks.requireBuffer(send, holds: count, "all-reduce send buffer", device: .cuda)
        try CollectiveChecks.requireBuffer(receive, holds: count, "all-reduce receive buffer", device: .cuda)
        try context.makeCurrent()
        try checkNCCL(
            sy_nccl_all_reduce(
                pointer(send, 0), pointer(receive, 0), count, type, NCCLLibrary.operation(op), handle,
                UnsafeMutableRawPointer(stream.handle)), "ncclAllReduce")
    }

    private func reductionType(_ dtype: DType) throws -> Int32 {
        guard let type = NCCLLibrary.reductionType(dtype) else {
            throw SwitchyardError(.unsupported, "NCCL reductions over \(dtype.rawValue) are not supported; reduce in bf16 or fp32")
        }
        return type
    }

    private func pointer(_ view: TensorView, _ byteOffset: Int) -> UnsafeMutableRawPointer? {
        UnsafeMutableRawPointer(bitPattern: view.address &+ UInt(byteOffset))
    }
}
