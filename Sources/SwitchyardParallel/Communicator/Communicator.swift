import Switchyard

/// How a reducing collective combines the ranks' values.
public enum ReductionOperation: String, Sendable, Hashable, CaseIterable {
    case sum, product, max, min
}

/// A group of ranks that exchange buffers: the collectives expert parallelism needs.
///
/// Every rank of the group calls the same collectives in the same order (as with MPI or NCCL). Buffers are
/// ``TensorView``s over caller-owned memory on ``device``: host memory for ``InProcessCommunicator``, CUDA device
/// memory for ``NCCLCommunicator``. Counts are in elements of the view's dtype; a view may be longer than what a
/// call reads or writes, never shorter. Implementations keep each collective's element order deterministic.
///
/// ```swift
/// let group = InProcessGroup(size: 4)
/// let sums = try group.run { comm in
///     try comm.allReduce([Double(comm.rank)], op: .sum)   // every rank gets [6.0]
/// }
/// ```
public protocol Communicator: AnyObject {
    /// This rank's index, 0..<size.
    var rank: Int { get }
    /// The number of ranks.
    var size: Int { get }
    /// Where the buffers passed to the collectives must live.
    var device: DeviceKind { get }

    /// All-to-all with per-peer counts: rank r sends `sendCounts[q]` elements to rank q and receives
    /// `receiveCounts[q]` from it. Segments are packed in rank order in both buffers (displacements are the
    /// exclusive prefix sums of the counts). Rank r's `sendCounts[q]` must equal rank q's `receiveCounts[r]`.
    func allToAllV(send: TensorView, sendCounts: [Int], receive: TensorView, receiveCounts: [Int]) throws

    /// Gathers `count` elements from every rank into `receive`, rank r's at offset r·count.
    func allGather(send: TensorView, receive: TensorView, count: Int) throws

    /// Reduces `size × count` elements elementwise across ranks; rank r receives block r (`count` elements).
    func reduceScatter(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws

    /// Reduces `count` elements elementwise across ranks; every rank receives the result.
    /// `send` and `receive` may be the same buffer.
    func allReduce(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws
}

/// Checks shared by every implementation: the counts and views fit, so a bad call fails with a clear message
/// before any traffic.
enum CollectiveChecks {
    static func requireAllToAll(
        send: TensorView, sendCounts: [Int], receive: TensorView, receiveCounts: [Int], size: Int, device: DeviceKind
    ) throws {
        guard sendCounts.count == size, receiveCounts.count == size else {
            throw SwitchyardError(
                .shapeMismatch,
                "all-to-all-v needs one send and one receive count per rank (\(size)), got \(sendCounts.count) and "
                    + "\(receiveCounts.count)")
        }
        guard sendCounts.allSatisfy({ $0 >= 0 }), receiveCounts.allSatisfy({ $0 >= 0 }) else {
            throw SwitchyardError(.invalidConfiguration, "all-to-all-v counts must be ≥ 0")
        }
        try requireBuffer(send, holds: sendCounts.reduce(0, +), "all-to-all-v send buffer", device: device)
        try requireBuffer(receive, holds: receiveCounts.reduce(0, +), "all-to-all-v receive buffer", device: device)
        guard send.dtype == receive.dtype else {
            throw SwitchyardError(
                .unsupported, "all-to-all-v send and receive dtypes differ: \(send.dtype) vs \(receive.dtype)")
        }
    }

    static func requireBuffer(_ view: TensorView, holds count: Int, _ what: String, device: DeviceKind) throws {
        guard count >= 0 else { throw SwitchyardError(.invalidConfiguration, "\(what): count must be ≥ 0, got \(count)") }
        guard view.device == device else {
            throw SwitchyardError(.unsupported, "\(what) must live on \(device.rawValue), got \(view.device.rawValue)")
        }
        guard view.isContiguous else {
            throw SwitchyardError(.unsupported, "\(what) must be contiguous (strides \(view.strides))")
        }
        guard view.count >= count else {
            throw SwitchyardError(.shapeMismatch, "\(what) holds \(view.count) elements, the call needs \(count)")
        }
        guard count == 0 || view.address != 0 else {
            throw SwitchyardError(.invalidConfiguration, "\(what) has a null address")
        }
    }

    static func requireReducible(_ dtype: DType) throws {
        switch dtype {
        case .float64, .float32, .bfloat16, .float16, .int64, .int32, .uint8: return
        case .float8E4M3, .float8E5M2, .float8E8M0:
            throw SwitchyardError(.unsupported, "reductions over \(dtype.rawValue) are not supported; reduce in bf16 or fp32")
        }
    }
}
