/// The parameters of one MoE layer, in Switchyard's canonical layout.
///
/// - `router`: Wr, [d, E]; logits Z = X·Wr.
/// - `routerBias`: [E], DeepSeek-V3's score-correction bias (selection only; zeros for other routers).
/// - `w1`: [E, d, up] with up = 2n for gated activations: gate columns 0..<n, then up columns n..<2n.
/// - `w2`: [E, n, d].
/// - `sharedW1`: [S, d, sharedUp], `sharedW2`: [S, ns, d] for S shared experts (S may be 0).
public struct MoEWeights<Scalar: BinaryFloatingPoint & Sendable>: Sendable, Equatable {
    public var config: MoEConfig
    public var router: Tensor<Scalar>
    public var routerBias: Tensor<Scalar>
    public var w1: Tensor<Scalar>
    public var w2: Tensor<Scalar>
    public var sharedW1: Tensor<Scalar>
    public var sharedW2: Tensor<Scalar>

    /// Checks every shape against `config`; throws a ``SwitchyardError`` naming the first mismatch.
    public init(
        config: MoEConfig, router: Tensor<Scalar>, routerBias: Tensor<Scalar>? = nil, w1: Tensor<Scalar>,
        w2: Tensor<Scalar>, sharedW1: Tensor<Scalar>? = nil, sharedW2: Tensor<Scalar>? = nil
    ) throws {
        let c = config
        self.config = config
        self.router = router
        self.routerBias = routerBias ?? Tensor(zeros: [c.experts])
        self.w1 = w1
        self.w2 = w2
        self.sharedW1 = sharedW1 ?? Tensor(zeros: [c.sharedExperts, c.hidden, c.sharedUpColumns])
        self.sharedW2 = sharedW2 ?? Tensor(zeros: [c.sharedExperts, c.sharedIntermediate, c.hidden])
        try validate()
    }

    public func validate() throws {
        let c = config
        try router.requireShape([c.hidden, c.experts], "router weight Wr")
        try routerBias.requireShape([c.experts], "router score-correction bias")
        try w1.requireShape([c.experts, c.hidden, c.upColumns], "W1")
        try w2.requireShape([c.experts, c.intermediate, c.hidden], "W2")
        try sharedW1.requireShape([c.sharedExperts, c.hidden, c.sharedUpColumns], "shared W1")
        try sharedW2.requireShape([c.sharedExperts, c.sharedIntermediate, c.hidden], "shared W2")
    }

    /// Random weights scaled as a trained layer's are (Wr, W1 by d^-½; W2 by n^-½); the same seed gives the same layer.
    public static func random(config: MoEConfig, seed: UInt64) -> MoEWeights {
        var g = SeededGenerator(seed: seed)
        let c = config
        let d = Double(c.hidden)
        let router = Tensor<Scalar>.randomNormal(shape: [c.hidden, c.experts], scale: 1 / d.squareRoot(), generator: &g)
        var bias = Tensor<Scalar>(zeros: [c.experts])
        if case .sigmoidBias = c.router.kind {
            bias = .randomNormal(shape: [c.experts], scale: 0.1, generator: &g)
        }
        let w1 = Tensor<Scalar>.randomNormal(
            shape: [c.experts, c.hidden, c.upColumns], scale: 1 / d.squareRoot(), generator: &g)
        let w2 = Tensor<Scalar>.randomNormal(
            shape: [c.experts, c.intermediate, c.hidden], scale: 1 / Double(c.intermediate).squareRoot(), generator: &g)
        let sharedW1 = Tensor<Scalar>.randomNormal(
            shape: [c.sharedExperts, c.hidden, c.sharedUpColumns], scale: 1 / d.squareRoot(), generator: &g)
        let sharedW2 = Tensor<Scalar>.randomNormal(
            shape: [c.sharedExperts, c.sharedIntermediate, c.hidden],
            scale: 1 / Double(max(c.sharedIntermediate, 1)).squareRoot(), generator: &g)
        // Shapes come from the config, so this cannot throw.
        return try! MoEWeights(
            config: c, router: router, routerBias: bias, w1: w1, w2: w2, sharedW1: sharedW1, sharedW2: sharedW2)
    }

    /// Every tensor converted to another scalar type (e.g. Double for the float64 oracle).
    public func converted<Other: BinaryFloatingPoint & Sendable>(to: Other.Type = Other.self) -> MoEWeights<Other> {
        try! MoEWeights<Other>(
            config: config, router: router.converted(), routerBias: routerBias.converted(), w1: w1.converted(),
            w2: w2.converted(), sharedW1: sharedW1.converted(), sharedW2: sharedW2.converted())
    }
}
