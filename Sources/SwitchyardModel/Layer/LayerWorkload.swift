import Switchyard

/// One MoE layer as the GPU runs it: the shape, the precision, how tokens spread over experts, and the tile.
///
/// ```swift
/// let shape = NamedShape.named("7B-n256")!
/// let workload = LayerWorkload(shape: shape, precision: .fp8, tokenRounding: true)
/// ```
public struct LayerWorkload: Sendable, Hashable, Codable {
    /// T: tokens entering the layer on this GPU.
    public var tokens: Int
    /// d
    public var hidden: Int
    /// n
    public var intermediate: Int
    /// E: experts whose GEMMs run here.
    public var experts: Int
    /// K
    public var topK: Int
    /// Gated activation (SwiGLU, GeGLU: H has 2n columns) or not (relu²: n columns).
    public var gated: Bool
    public var precision: Precision
    /// Assignments per expert; `nil` spreads T·K evenly. The sum is the number of GEMM rows, which under
    /// expert parallelism need not equal T·K.
    public var expertCounts: [Int]?
    /// SonicMoE token rounding: each expert's rows rounded to the nearest multiple of the M tile.
    public var tokenRounding: Bool
    public var tile: TileConfig
    /// Whether GEMMs widen the tile where Switchyard's kernels do (the default, what `switchyard bench` runs)
    /// or all use ``tile`` as given.
    public var tileRule: TileRule
    /// Bytes per element of dW1 and dW2 as the backward writes them: nil or 4 (fp32, the default), 2 (bf16,
    /// `bench --weight-gradients bf16`).
    public var weightGradientBytes: Int?

    public init(
        tokens: Int, hidden: Int, intermediate: Int, experts: Int, topK: Int, gated: Bool = true,
        precision: Precision = .bf16, expertCounts: [Int]? = nil, tokenRounding: Bool = false,
        tile: TileConfig = .default, tileRule: TileRule = .switchyardKernels
    ) {
        self.tokens = tokens
        self.hidden = hidden
        self.intermediate = intermediate
        self.experts = experts
        self.topK = topK
        self.gated = gated
        self.precision = precision
        self.expertCounts = expertCounts
        self.tokenRounding = tokenRounding
        self.tile = tile
        self.tileRule = tileRule
    }

    /// A named shape of MOE.md §3 (SwiGLU).
    public init(
        shape: NamedShape, precision: Precision = .bf16, tokenRounding: Bool = false, tile: TileConfig = .default,
        tileRule: TileRule = .switchyardKernels
    ) {
        self.init(
            tokens: shape.tokens, hidden: shape.hidden, intermediate: shape.intermediate, experts: shape.experts,
            topK: shape.topK, precision: precision, tokenRounding: tokenRounding, tile: tile, tileRule: tileRule)
    }

    /// Throws a ``SwitchyardError`` naming the bad field and the allowed range.
    public func validate() throws {
        func bad(_ message: String) -> SwitchyardError { SwitchyardError(.invalidConfiguration, message) }
        for (field, value) in [("tokens", tokens), ("hidden", hidden), ("intermediate", intermediate),
                               ("experts", experts), ("topK", topK)] where value <= 0 {
            throw bad("\(field) must be positive, got \(value)")
        }
        guard topK <= experts else { throw bad("topK (\(topK)) must not exceed experts (\(experts))") }
        if let counts = expertCounts {
            guard counts.count == experts else {
                throw bad("expertCounts has \(counts.count) entries; it needs one per expert (\(experts))")
            }
            guard counts.allSatisfy({ $0 >= 0 }) else { throw bad("expertCounts must be ≥ 0") }
        }
    }

    /// Columns of H: 2n gated, n otherwise.
    public var upColumns: Int { gated ? 2 * intermediate : intermediate }

    /// Assignments per expert as routed (before token rounding).
    public var routedCounts: [Int] {
        if let expertCounts { return expertCounts }
        let total = tokens * topK
        let base = total / experts, extra = total % experts
        return (0..<experts).map { base + ($0 < extra ? 1 : 0) }
    }

    /// Rows each expert's GEMMs process: routed counts, rounded to the nearest multiple of the M tile
    /// (halves round up) when ``tokenRounding`` is on.
    public var expertRows: [Int] {
        guard tokenRounding else { return routedCounts }
        let m = tile.m
        return routedCounts.map { ($0 + m / 2) / m * m }
    }

    /// Expert FLOPs as MOE.md §2 counts them, on the T·K nominal assignments:
    /// forward 2·T·K·d·(H columns) + 2·T·K·n·d (= 6·T·K·n·d gated).
    public var forwardFLOPs: Double {
        2 * Double(tokens * topK) * Double(hidden) * Double(upColumns + intermediate)
    }

    /// Backward expert FLOPs, twice the forward (dA′, dW2, dW1, dX).
    public var backwardFLOPs: Double { 2 * forwardFLOPs }
}
