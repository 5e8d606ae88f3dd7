import Switchyard

/// One point of the sparsity-regime sweep and its prediction.
public struct SweepPoint: Sendable, Hashable, Codable {
    public var tokens: Int
    public var hidden: Int
    public var intermediate: Int
    public var experts: Int
    public var topK: Int
    /// d / n.
    public var granularity: Double
    /// K / E.
    public var activationRatio: Double
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    public var forwardTFLOPS: Double
    public var backwardTFLOPS: Double
    public var totalTFLOPS: Double
    public var cachedActivationBytes: Double
    public var peakActivationBytes: Double
}

/// SonicMoE's iso-FLOP study: vary granularity d/n and activation ratio K/E while K·n (hence the expert FLOPs
/// 6·T·K·n·d) and T, d stay fixed.
///
/// ```swift
/// let sweep = SparsitySweep(base: NamedShape.named("30B-n512")!)
/// let points = sweep.run(PerformanceModel(hardware: .h100SXM))
/// print(SweepReport.csv(points))
/// ```
public struct SparsitySweep: Sendable, Hashable {
    public var tokens: Int
    public var hidden: Int
    /// K·n, held fixed.
    public var activeIntermediate: Int
    /// Values of d/n to try; a point is kept when n and K come out whole.
    public var granularities: [Int]
    /// Values of E/K to try (activation ratio 1/this).
    public var expertsPerChoice: [Int]
    public var precision: Precision
    public var tokenRounding: Bool
    public var tile: TileConfig

    public init(
        tokens: Int, hidden: Int, activeIntermediate: Int, granularities: [Int] = [1, 2, 4, 8, 16, 32],
        expertsPerChoice: [Int] = [2, 4, 8, 16, 32, 64], precision: Precision = .bf16, tokenRounding: Bool = false,
        tile: TileConfig = .default
    ) {
        self.tokens = tokens
        self.hidden = hidden
        self.activeIntermediate = activeIntermediate
        self.granularities = granularities
        self.expertsPerChoice = expertsPerChoice
        self.precision = precision
        self.tokenRounding = tokenRounding
        self.tile = tile
    }

    /// T, d and K·n of a named shape.
    public init(base: NamedShape, precision: Precision = .bf16) {
        self.init(
            tokens: base.tokens, hidden: base.hidden, activeIntermediate: base.topK * base.intermediate,
            precision: precision)
    }

    /// The layer shapes of the sweep, granularity-major.
    public var workloads: [LayerWorkload] {
        var result: [LayerWorkload] = []
        for g in granularities where g > 0 && hidden % g == 0 {
            let n = hidden / g
            guard activeIntermediate % n == 0 else { continue }
            let k = activeIntermediate / n
            for r in expertsPerChoice where r >= 1 {
                result.append(LayerWorkload(
                    tokens: tokens, hidden: hidden, intermediate: n, experts: k * r, topK: k, precision: precision,
                    tokenRounding: tokenRounding, tile: tile))
            }
        }
        return result
    }

    public func run(_ model: PerformanceModel) -> [SweepPoint] {
        workloads.map { w in
            let e = model.estimate(w)
            return SweepPoint(
                tokens: w.tokens, hidden: w.hidden, intermediate: w.intermediate, experts: w.experts, topK: w.topK,
                granularity: Double(w.hidden) / Double(w.intermediate),
                activationRatio: Double(w.topK) / Double(w.experts), forwardSeconds: e.forwardSeconds,
                backwardSeconds: e.backwardSeconds, forwardTFLOPS: e.forwardTFLOPS, backwardTFLOPS: e.backwardTFLOPS,
                totalTFLOPS: e.totalTFLOPS, cachedActivationBytes: e.cachedActivationBytes,
                peakActivationBytes: e.peakActivationBytes)
        }
    }
}
