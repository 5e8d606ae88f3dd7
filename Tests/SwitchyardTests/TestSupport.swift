@testable import Switchyard

/// A random layer and input in Double for gradient and property checks.
struct Case {
    var config: MoEConfig
    var weights: MoEWeights<Double>
    var x: Tensor<Double>
    var dO: Tensor<Double>

    init(config: MoEConfig, tokens: Int, seed: UInt64) {
        self.config = config
        weights = MoEWeights<Double>.random(config: config, seed: seed)
        var g = SeededGenerator(seed: seed &+ 99)
        x = .randomNormal(shape: [tokens, config.hidden], generator: &g)
        dO = .randomNormal(shape: [tokens, config.hidden], generator: &g)
        // Bigger router weights spread the logits, so top-K margins are clear of finite-difference steps.
        for i in weights.router.scalars.indices { weights.router.scalars[i] *= 3 }
    }

    /// L = ⟨dO, O⟩ + auxCoef·aux + zCoef·z, the loss whose gradients backward returns.
    func loss(_ forward: LayerForward<Double>) -> Double {
        var total = 0.0
        for i in dO.scalars.indices { total += dO.scalars[i] * forward.output.scalars[i] }
        return total + config.router.auxLossCoefficient * forward.auxLoss + config.router.zLossCoefficient * forward.zLoss
    }
}

func makeConfig(
    router: RouterKind = .softmaxTopK(renormalize: true), activation: Activation = .swiglu, hidden: Int = 6,
    intermediate: Int = 4, experts: Int = 6, topK: Int = 2, shared: Int = 0, aux: Double = 0, z: Double = 0,
    capacity: Double? = nil, rounding: TokenRounding? = nil
) throws -> MoEConfig {
    try MoEConfig(
        hidden: hidden, intermediate: intermediate, experts: experts, topK: topK, activation: activation,
        router: RouterConfig(
            kind: router, capacityFactor: capacity, tokenRounding: rounding, auxLossCoefficient: aux,
            zLossCoefficient: z),
        sharedExperts: shared, sharedIntermediate: shared > 0 ? 3 : 0)
}

/// Up to `limit` flat indices of a tensor with `count` scalars, spread evenly.
func sampleIndices(_ count: Int, limit: Int = 16) -> [Int] {
    guard count > limit else { return Array(0..<count) }
    return (0..<limit).map { $0 * count / limit + ($0 * 7) % max(count / limit, 1) }
}

/// The central-difference derivative of the loss along each sampled entry of the tensor at `path`,
/// and the analytic values, for a relative-error comparison. Fails the check (returns nil) if any
/// perturbation changed the routing.
func finiteDifference(
    _ c: Case, _ path: WritableKeyPath<Case, Tensor<Double>>, analytic: Tensor<Double>, step: Double = 1e-5
) throws -> (numeric: [Double], analytic: [Double])? {
    let reference = try ReferenceLayer.forward(c.x, weights: c.weights)
    var numeric: [Double] = []
    var exact: [Double] = []
    for i in sampleIndices(c[keyPath: path].count) {
        var plus = c
        plus[keyPath: path].scalars[i] += step
        var minus = c
        minus[keyPath: path].scalars[i] -= step
        let fp = try ReferenceLayer.forward(plus.x, weights: plus.weights)
        let fm = try ReferenceLayer.forward(minus.x, weights: minus.weights)
        guard fp.plan == reference.plan, fm.plan == reference.plan else { return nil }
        numeric.append((plus.loss(fp) - minus.loss(fm)) / (2 * step))
        exact.append(analytic.scalars[i])
    }
    return (numeric, exact)
}

extension Case {
    var router: Tensor<Double> {
        get { weights.router }
        set { weights.router = newValue }
    }
    var w1: Tensor<Double> {
        get { weights.w1 }
        set { weights.w1 = newValue }
    }
    var w2: Tensor<Double> {
        get { weights.w2 }
        set { weights.w2 = newValue }
    }
    var sharedW1: Tensor<Double> {
        get { weights.sharedW1 }
        set { weights.sharedW1 = newValue }
    }
    var sharedW2: Tensor<Double> {
        get { weights.sharedW2 }
        set { weights.sharedW2 = newValue }
    }
}

/// The smallest selection margin over all tokens.
func smallestMargin(_ forward: LayerForward<Double>) -> Double { forward.selectionMargin.min() ?? .infinity }
