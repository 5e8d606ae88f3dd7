/// What limits a kernel or collective.
public enum Bound: String, Sendable, Hashable, Codable {
    case compute, memory, launch, network
}

/// The predicted time of one kernel (or collective) and the counts behind it, so it can be checked by hand.
public struct KernelEstimate: Sendable, Hashable, Codable {
    public var name: String
    /// "forward" or "backward".
    public var phase: Phase
    public var stage: Stage
    /// Useful FLOPs (real rows only).
    public var flops: Double
    /// HBM bytes (network bytes for a collective).
    public var bytes: Double
    public var seconds: Double
    public var bound: Bound
    /// Achieved rate over the vendor peak of what bounds it: FLOP/s over the precision's tensor peak,
    /// bytes/s over HBM (or link) bandwidth, in percent.
    public var percentOfPeak: Double
    /// Output tiles, 0 for streaming kernels.
    public var tiles: Int
    /// ⌈tiles / SMs⌉, 0 for streaming kernels.
    public var waves: Int
    /// Time the tensor cores need for all tiles, padding and wave tail included.
    public var computeSeconds: Double
    /// Time the bytes need at the reachable bandwidth.
    public var memorySeconds: Double
    public var launches: Int

    public init(
        name: String, phase: Phase, stage: Stage, flops: Double, bytes: Double, seconds: Double, bound: Bound,
        percentOfPeak: Double, tiles: Int = 0, waves: Int = 0, computeSeconds: Double = 0,
        memorySeconds: Double = 0, launches: Int = 0
    ) {
        self.name = name
        self.phase = phase
        self.stage = stage
        self.flops = flops
        self.bytes = bytes
        self.seconds = seconds
        self.bound = bound
        self.percentOfPeak = percentOfPeak
        self.tiles = tiles
        self.waves = waves
        self.computeSeconds = computeSeconds
        self.memorySeconds = memorySeconds
        self.launches = launches
    }
}

/// The predicted kernels of one layer with totals and activation memory.
public struct LayerEstimate: Sendable, Hashable, Codable {
    public var kernels: [KernelEstimate]
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    /// H and the routing metadata, kept from forward to backward.
    public var cachedActivationBytes: Double
    /// Cached bytes plus the largest set of transient buffers alive at once (A, Y, dH, …).
    public var peakActivationBytes: Double
    /// Expert FLOPs as MOE.md §2 counts them (6·T·K·n·d forward when gated; backward twice that).
    public var forwardFLOPs: Double
    public var backwardFLOPs: Double

    public init(
        kernels: [KernelEstimate], forwardSeconds: Double, backwardSeconds: Double, cachedActivationBytes: Double,
        peakActivationBytes: Double, forwardFLOPs: Double, backwardFLOPs: Double
    ) {
        self.kernels = kernels
        self.forwardSeconds = forwardSeconds
        self.backwardSeconds = backwardSeconds
        self.cachedActivationBytes = cachedActivationBytes
        self.peakActivationBytes = peakActivationBytes
        self.forwardFLOPs = forwardFLOPs
        self.backwardFLOPs = backwardFLOPs
    }

    public var totalSeconds: Double { forwardSeconds + backwardSeconds }
    public var forwardTFLOPS: Double { forwardFLOPs / forwardSeconds / 1e12 }
    public var backwardTFLOPS: Double { backwardFLOPs / backwardSeconds / 1e12 }
    public var totalTFLOPS: Double { (forwardFLOPs + backwardFLOPs) / totalSeconds / 1e12 }
}
