import Switchyard

/// How the EP layer moves tokens.
public struct ExpertParallelOptions: Sendable, Hashable {
    /// How dispatched token rows travel.
    public enum DispatchFormat: String, Sendable, Hashable, CaseIterable {
        /// In the layer's scalar type; combine too. Results match the single-device layer.
        case native
        /// FP8 E4M3 with one fp32 scale per 1×128 block; combine returns partial outputs in bf16.
        case fp8
    }

    /// Token chunks per rank: chunk i+1's dispatch and chunk i−1's combine can overlap chunk i's expert compute
    /// (on GPU streams). Every rank must use the same count; results do not depend on it.
    public var chunks: Int
    public var dispatchFormat: DispatchFormat
    /// Worker threads of the reference layer on each rank.
    public var threads: Int

    public init(chunks: Int = 1, dispatchFormat: DispatchFormat = .native, threads: Int = 1) {
        self.chunks = chunks
        self.dispatchFormat = dispatchFormat
        self.threads = threads
    }
}

/// One rank's share of an expert-parallel MoE layer: the replicated router and the experts of its slots.
///
/// Forward: each rank routes its own tokens, sends each token once to every rank that serves one of its K
/// choices (``DispatchPlan``), computes its slots' experts for the tokens it received, scaled by their scores and
/// summed per token in ascending k, and returns these partial outputs; the source adds them in ascending rank
/// order. With R = 1 this is the single-device layer's order exactly.
///
/// ```swift
/// let group = try InProcessGroup(size: 4)
/// let placement = try ExpertPlacement.contiguous(experts: config.experts, ranks: 4)
/// let outputs = try group.run { comm in
///     let layer = try ExpertParallelLayer(weights: weights, placement: placement, rank: comm.rank)
///     return try layer.forward(tokensOfRank[comm.rank], communicator: comm).output
/// }
/// ```
public struct ExpertParallelLayer<S: BinaryFloatingPoint & Sendable & CommunicatorScalar>: Sendable {
    public let config: MoEConfig
    public let placement: ExpertPlacement
    public let rank: Int
    public let options: ExpertParallelOptions
    /// Wr [d, E] and the score-correction bias [E], the same on every rank.
    public let router: Tensor<S>
    public let routerBias: Tensor<S>
    /// W1 [slots, d, up] and W2 [slots, n, d] of this rank's slots, in slot order.
    public let w1: Tensor<S>
    public let w2: Tensor<S>
    let experts: LocalExperts<S>
    /// Zero-width experts around the real router, so that the reference layer computes the logits.
    let routerProbe: MoEWeights<S>

    /// Takes rank `rank`'s slots out of the full layer's weights. Throws for what expert parallelism does not
    /// support yet: capacity dropping and token rounding (they need every rank's tokens), shared experts, and
    /// the auxiliary losses (their gradients need global statistics).
    public init(
        weights: MoEWeights<S>, placement: ExpertPlacement, rank: Int, options: ExpertParallelOptions = .init()
    ) throws {
        let c = weights.config
        try Self.requireSupported(c, placement: placement, rank: rank, options: options)
        config = c
        self.placement = placement
        self.rank = rank
        self.options = options
        router = weights.router
        routerBias = weights.routerBias
        let held = placement.slots[rank]
        let w1Size = c.hidden * c.upColumns, w2Size = c.intermediate * c.hidden
        w1 = try Tensor(
            shape: [held.count, c.hidden, c.upColumns],
            scalars: held.flatMap { weights.w1.scalars[($0 * w1Size)..<(($0 + 1) * w1Size)] })
        w2 = try Tensor(
            shape: [held.count, c.intermediate, c.hidden],
            scalars: held.flatMap { weights.w2.scalars[($0 * w2Size)..<(($0 + 1) * w2Size)] })
        experts = try LocalExperts(config: c, w1: w1, w2: w2, slots: held.count, threads: options.threads)
        var probeRouter = c.router
        probeRouter.auxLossCoefficient = 0
        let probe = try MoEConfig(
            hidden: c.hidden, intermediate: 1, experts: c.experts, topK: c.topK, activation: .swiglu, router: probeRouter)
        routerProbe = try MoEWeights(
            config: probe, router: weights.router, routerBias: weights.routerBias,
            w1: Tensor(zeros: [c.experts, c.hidden, 2]), w2: Tensor(zeros: [c.experts, 1, c.hidden]))
    }

    private static func requireSupported(
        _ c: MoEConfig, placement: ExpertPlacement, rank: Int, options: ExpertParallelOptions
    ) throws {
        func unsupported(_ message: String) -> SwitchyardError { SwitchyardError(.unsupported, message) }
        guard placement.experts == c.experts else {
            throw SwitchyardError(.invalidConfiguration, "placement covers \(placement.experts) experts, the layer has \(c.experts)")
        }
        guard (0..<placement.ranks).contains(rank) else {
            throw SwitchyardError(.invalidConfiguration, "rank \(rank) is outside the placement's 0..<\(placement.ranks)")
        }
        guard options.chunks >= 1, options.threads >= 1 else {
            throw SwitchyardError(.invalidConfiguration, "chunks and threads must be ≥ 1, got \(options.chunks), \(options.threads)")
        }
        guard c.router.capacityFactor == nil, c.router.tokenRounding == nil else {
            throw unsupported("expert parallelism does not support capacity dropping or token rounding (they need all ranks' tokens)")
        }
        guard c.sharedExperts == 0 else { throw unsupported("expert parallelism does not support shared experts yet") }
        guard c.router.auxLossCoefficient == 0, c.router.zLossCoefficient == 0 else {
            throw unsupported("expert parallelism needs auxLossCoefficient = zLossCoefficient = 0 (global loss statistics are not reduced yet)")
        }
    }

    /// Z = X·Wr [T, E], computed by the reference layer's own GEMM so that routing matches the single-device layer.
    func logits(_ x: Tensor<S>) throws -> Tensor<S> {
        try ReferenceLayer.forward(x, weights: routerProbe, threads: options.threads).logits
    }

    /// Token range of chunk `chunk` of `tokens` tokens.
    func chunkRange(_ chunk: Int, tokens: Int) -> Range<Int> {
        (chunk * tokens / options.chunks)..<((chunk + 1) * tokens / options.chunks)
    }

    func requireCommunicator(_ communicator: some Communicator) throws {
        guard communicator.size == placement.ranks, communicator.rank == rank else {
            throw SwitchyardError(
                .invalidConfiguration,
                "communicator is rank \(communicator.rank) of \(communicator.size); the layer is rank \(rank) of \(placement.ranks)")
        }
    }
}
