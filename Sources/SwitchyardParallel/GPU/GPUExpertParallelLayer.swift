import Foundation
import Switchyard
import SwitchyardCUDA

/// One rank's share of an expert-parallel MoE layer on a GPU: the replicated router and the experts of its slots,
/// moving token rows over a ``DeviceCommunicator`` (NCCL across GPUs).
///
/// Forward, on each rank over its own tokens: route and plan dispatch on the device (``DispatchPlan``'s order: each
/// token once per destination rank, rows by chunk, destination, then token; `sy_ep_*` kernels), read only the row
/// counts back and exchange them (two synchronizations); then, per token chunk, gather the rows (a kernel), send them with their K slot
/// entries and scores (all-to-all-v), run the local experts on what arrived (``GPUMoELayer/forwardRouted``), send
/// each row's partial output Σ_k s_k·Y_k back, and add a token's partials in ascending destination rank (a kernel).
/// With chunks > 1 the collectives run on the communicator's stream and the compute on the caller's, ordered by
/// events and issued so that chunk i+1's dispatch and chunk i−1's combine overlap chunk i's experts.
///
/// Backward: dO travels like X; each rank runs its experts' backward on the rows it received
/// (``GPUMoELayer/backwardRouted``) and returns each row's dX partial and dS; the source adds the partials, runs the
/// router's backward (``GPURouter``) and adds its dX term. dW1 and dW2 are summed over chunks in order; dWr is
/// summed over ranks with an all-reduce.
///
/// Results equal the single-device layer's up to summation order: each rank's partial output and dX row is rounded
/// to bf16 before the source adds them (the single-device layer rounds once). A pass's buffers are reused by the
/// next forward.
///
/// ```swift
/// let layer = try GPUExpertParallelLayer(kernels: kernels, weights: weights, placement: placement,
///                                        communicator: comm, chunks: 4)
/// let pass = try layer.forward(input: x.address, tokens: T, stream: stream)      // pass.output: O [T, d] bf16
/// let grads = try layer.backward(pass, outputGradient: dO.address, input: x.address, stream: stream)
/// ```
public final class GPUExpertParallelLayer: @unchecked Sendable {
    public let config: MoEConfig
    public let placement: ExpertPlacement
    public let rank: Int
    /// Token chunks per rank; every rank must use the same count.
    public let chunks: Int
    /// How X travels in dispatch: bf16 (`.native`) or E4M3 with one fp32 scale per 1×128 block (`.fp8`, about half
    /// the bytes). Combine and everything in backward travel in bf16. Every rank must use the same; it may change
    /// between passes.
    public var dispatchFormat: ExpertParallelOptions.DispatchFormat
    public let communicator: any DeviceCommunicator
    let kernels: GPUKernels
    let router: GPURouter
    /// This rank's slots as a layer of max(slots, K) experts (the GPU layer needs K ≤ E; padding experts have zero
    /// weights and never receive a row).
    let experts: GPUMoELayer
    let slotCount: Int
    private var pool: [String: DeviceBuffer] = [:]
    var workspaces: [GPUWorkspace] = []
    var gradientBuffers: GPUGradients?
    var routing: GPURouterWorkspace?
    /// The latest forward pass (backward takes only this one: the buffers belong to it).
    var lastPass: GPUExpertParallelPass?

    /// Where the host spent the latest forward: waiting for the device's routing and row counts, planning (counts
    /// read back, row bases, count exchange, buffers grown) and enqueueing the chunks.
    public struct HostTimes: Sendable {
        public var routingWait: Duration
        public var planning: Duration
        public var enqueue: Duration
    }
    public internal(set) var hostTimes = HostTimes(routingWait: .zero, planning: .zero, enqueue: .zero)
    private var events: [String: CUDAEvent] = [:]
    /// This rank's choice among each expert's replicas, for the device plan (see ``GPUReplicaTable``).
    var replicaTable: GPUReplicaTable
    private let replicaBuffers: [DeviceBuffer]

    /// Takes rank `communicator.rank`'s slots out of the full layer's weights (rounded to bf16 on upload).
    /// Throws for what the EP layer does not support: capacity dropping, token rounding, shared experts, and the
    /// aux and z losses (their statistics are global).
    public convenience init(
        kernels: GPUKernels, weights: MoEWeights<Float>, placement: ExpertPlacement,
        communicator: any DeviceCommunicator, chunks: Int = 1, dispatchFormat: ExpertParallelOptions.DispatchFormat = .native
    ) throws {
        let c = weights.config
        try Self.requireSupported(c, kernels: kernels, placement: placement, communicator: communicator, chunks: chunks)
        let held = placement.slots[communicator.rank]
        let localExperts = max(held.count, c.topK)
        let w1Size = c.hidden * c.upColumns, w2Size = c.intermediate * c.hidden
        var w1 = [Float](repeating: 0, count: localExperts * w1Size), w2 = [Float](repeating: 0, count: localExperts * w2Size)
        for (slot, expert) in held.enumerated() {
            w1.replaceSubrange((slot * w1Size)..<((slot + 1) * w1Size), with: weights.w1.scalars[(expert * w1Size)..<((expert + 1) * w1Size)])
            w2.replaceSubrange((slot * w2Size)..<((slot + 1) * w2Size), with: weights.w2.scalars[(expert * w2Size)..<((expert + 1) * w2Size)])
        }
        let experts = try GPUMoELayer(kernels: kernels, weights: MoEWeights(
            config: try Self.localConfig(c, experts: localExperts), router: Tensor(zeros: [c.hidden, localExperts]),
            routerBias: Tensor(zeros: [localExperts]),
            w1: Tensor(shape: [localExperts, c.hidden, c.upColumns], scalars: w1),
            w2: Tensor(shape: [localExperts, c.intermediate, c.hidden], scalars: w2)))
        try self.init(kernels: kernels, config: c, router: weights.router, routerBias: weights.routerBias, experts: experts,
                      slots: held.count, placement: placement, communicator: communicator, chunks: chunks,
                      dispatchFormat: dispatchFormat)
    }

    /// Uses this rank's slots' weights already on the GPU, in the canonical layout: bf16 W1 [slots, d, 2n] at `w1`
    /// and W2 [slots, n, d] at `w2` (read during this call only); the router comes from the host. Needs at least K
    /// slots on every rank (else use the host-weights initializer, which pads).
    public convenience init(
        kernels: GPUKernels, config c: MoEConfig, router: Tensor<Float>, routerBias: Tensor<Float>, w1: UInt64, w2: UInt64,
        placement: ExpertPlacement, communicator: any DeviceCommunicator, chunks: Int = 1,
        dispatchFormat: ExpertParallelOptions.DispatchFormat = .native
    ) throws {
        try Self.requireSupported(c, kernels: kernels, placement: placement, communicator: communicator, chunks: chunks)
        let slots = placement.slots[communicator.rank].count
        guard slots >= c.topK else {
            throw SwitchyardError(.unsupported, "rank \(communicator.rank) holds \(slots) experts, fewer than K = \(c.topK); pass host weights (the layer pads them)")
        }
        let unusedRouter = try kernels.context.allocate(bytes: c.hidden * slots * 2)  // zeros: the local router is not used
        try unusedRouter.fill(byte: 0)
        let experts = try GPUMoELayer(
            kernels: kernels, config: try Self.localConfig(c, experts: slots), router: unusedRouter.address,
            routerBias: [Float](repeating: 0, count: slots), w1: w1, w2: w2)
        try self.init(kernels: kernels, config: c, router: router, routerBias: routerBias, experts: experts, slots: slots,
                      placement: placement, communicator: communicator, chunks: chunks, dispatchFormat: dispatchFormat)
    }

    private init(
        kernels: GPUKernels, config c: MoEConfig, router: Tensor<Float>, routerBias: Tensor<Float>, experts: GPUMoELayer,
        slots: Int, placement: ExpertPlacement, communicator: any DeviceCommunicator, chunks: Int,
        dispatchFormat: ExpertParallelOptions.DispatchFormat
    ) throws {
        config = c
        self.dispatchFormat = dispatchFormat
        self.placement = placement
        rank = communicator.rank
        self.chunks = chunks
        self.communicator = communicator
        self.kernels = kernels
        self.router = try GPURouter(kernels: kernels, config: c, router: router, bias: routerBias)
        self.experts = experts
        slotCount = slots
        let table = Self.replicaChoices(placement: placement, sourceRank: communicator.rank)
        replicaBuffers = try [table.offset, table.count, table.rank, table.slot].map { values in
            let buffer = try kernels.context.allocate(bytes: values.count * 4)
            try buffer.upload(values)
            return buffer
        }
        replicaTable = GPUReplicaTable(offset: replicaBuffers[0].address, count: replicaBuffers[1].address,
                                       rank: replicaBuffers[2].address, slot: replicaBuffers[3].address)
    }

    /// The replica tables of the device plan for `sourceRank` (see ``GPUReplicaTable``), matching
    /// ``ExpertPlacement/replica(of:sourceRank:token:)``: one replica; else the one on the source rank; else all of
    /// them, token t taking (t + sourceRank) % count.
    static func replicaChoices(placement: ExpertPlacement, sourceRank: Int)
        -> (offset: [Int32], count: [Int32], rank: [Int32], slot: [Int32])
    {
        var offset: [Int32] = [], count: [Int32] = [], ranks: [Int32] = [], slots: [Int32] = []
        for copies in placement.replicas {
            let used = copies.count == 1 ? copies : (copies.first { $0.rank == sourceRank }.map { [$0] } ?? copies)
            offset.append(Int32(ranks.count))
            count.append(Int32(used.count))
            ranks += used.map { Int32($0.rank) }
            slots += used.map { Int32($0.slot) }
        }
        return (offset, count, ranks, slots)
    }

    /// The local layer's configuration: this rank's experts, the same d, n, K (the router is not used).
    private static func localConfig(_ c: MoEConfig, experts: Int) throws -> MoEConfig {
        try MoEConfig(hidden: c.hidden, intermediate: c.intermediate, experts: experts, topK: c.topK, activation: c.activation,
                      router: RouterConfig(kind: .softmaxTopK(renormalize: false)))
    }

    private static func requireSupported(
        _ c: MoEConfig, kernels: GPUKernels, placement: ExpertPlacement, communicator: any DeviceCommunicator, chunks: Int
    ) throws {
        try GPUMoELayer.requireSupported(c)
        guard placement.experts == c.experts, placement.ranks == communicator.size else {
            throw SwitchyardError(
                .invalidConfiguration,
                "placement covers \(placement.experts) experts on \(placement.ranks) ranks; the layer has \(c.experts) experts and the communicator \(communicator.size) ranks")
        }
        guard chunks >= 1 else { throw SwitchyardError(.invalidConfiguration, "chunks must be ≥ 1, got \(chunks)") }
        guard placement.ranks <= GPUKernels.maxExpertParallelRanks else {
            throw SwitchyardError(.unsupported, "the GPU dispatch plan supports up to \(GPUKernels.maxExpertParallelRanks) ranks, got \(placement.ranks)")
        }
        guard c.router.auxLossCoefficient == 0, c.router.zLossCoefficient == 0 else {
            throw SwitchyardError(
                .unsupported, "expert parallelism needs auxLossCoefficient = zLossCoefficient = 0 (global loss statistics are not reduced yet)")
        }
        guard communicator.context === kernels.context else {
            throw SwitchyardError(.invalidConfiguration, "the communicator's GPU is not the kernels' GPU")
        }
    }

    /// Whether buffers are filled with 0xFF bytes (NaN) when made, so that an element no kernel writes shows up in
    /// the checks.
    public var poisonsBuffers = false

    /// A device buffer of at least `bytes` bytes, kept under `name` and reused (grown when too small).
    func buffer(_ name: String, bytes: Int) throws -> DeviceBuffer {
        if let existing = pool[name], existing.byteCount >= max(bytes, 16) { return existing }
        pool[name] = nil
        let made = try kernels.context.allocate(bytes: max(bytes, 16))
        if poisonsBuffers { try made.fill(byte: 0xFF) }
        pool[name] = made
        return made
    }

    /// An event for ordering the compute and communication streams (no timing).
    func event(_ name: String) throws -> CUDAEvent {
        if let existing = events[name] { return existing }
        let made = try CUDAEvent(context: kernels.context, timing: false)
        events[name] = made
        return made
    }

    /// Device bytes this layer holds for its passes (pools, workspaces, gradient buffers).
    public var workingBytes: Int {
        pool.values.reduce(0) { $0 + $1.byteCount } + workspaces.reduce(0) { $0 + $1.byteCount }
            + (gradientBuffers.map { $0.activationBytes + $0.weightGradientBytes } ?? 0)
    }
}

/// What one chunk's plan and exchange fixed: row counts, where its rows start in the pass-wide buffers.
struct GPUDispatchedChunk {
    var tokens: Range<Int>
    /// Rows sent to / received from each rank.
    var sendCounts: [Int]
    var receiveCounts: [Int]
    /// First row of this chunk in the pass-wide send (= returned) buffers and receive buffers.
    var sendBase: Int
    var receiveBase: Int
    var sentRows: Int { sendCounts.reduce(0, +) }
    var receivedRows: Int { receiveCounts.reduce(0, +) }
}

/// One forward pass of ``GPUExpertParallelLayer``: its output and what backward needs. Valid until the layer's
/// next forward.
public final class GPUExpertParallelPass: @unchecked Sendable {
    public let tokens: Int
    /// O [T, d] bf16.
    public let output: DeviceBuffer
    /// Rows this rank sent to other ranks (each token once per remote destination), over all chunks.
    public let remoteRowsSent: Int
    let routingBuffers: GPURouterWorkspace
    /// Chunks in the merge tables (those that received rows).
    let mergedChunks: Int
    let chunks: [GPUDispatchedChunk]

    init(tokens: Int, output: DeviceBuffer, routing: GPURouterWorkspace, chunks: [GPUDispatchedChunk], mergedChunks: Int,
         rank: Int) {
        self.tokens = tokens
        self.mergedChunks = mergedChunks
        self.output = output
        routingBuffers = routing
        self.chunks = chunks
        remoteRowsSent = chunks.reduce(0) { $0 + $1.sentRows - $1.sendCounts[rank] }
    }

    /// The router's choices [T·K] (expert indices) and scores [T·K], read from the device (after the pass's stream).
    public func routing(topK K: Int) throws -> (expertIndex: [Int32], scores: [Float]) {
        (try routingBuffers.expertIndex.download(Int32.self, count: tokens * K),
         try routingBuffers.scores.download(Float.self, count: tokens * K))
    }
}

/// The gradients of one rank: dX and dS of its tokens, dWr summed over ranks, dW1 and dW2 of its slots.
public struct GPUExpertParallelGradients {
    /// dX [T, d] bf16.
    public let input: DeviceBuffer
    /// dS [T, K] fp32.
    public let scores: DeviceBuffer
    /// dWr [d, E] fp32, summed over every rank's tokens.
    public let router: DeviceBuffer
    /// dW1 [slots, d, 2n] and dW2 [slots, n, d] fp32 of this rank's slots, in slot order (summed over chunks), at
    /// the start of buffers that may hold more (a rank with fewer than K slots has zero-weight padding experts).
    /// Valid until the layer's next backward. With a replicated placement, a replicated expert's gradient is the sum
    /// over the ranks holding it.
    public let w1: DeviceBuffer
    public let w2: DeviceBuffer
}
