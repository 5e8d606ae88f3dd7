/// AdamW: Adam with bias-corrected moments and decoupled weight decay (Loshchilov & Hutter), as PyTorch's
/// `torch.optim.AdamW` computes it. For step t ≥ 1, per parameter p with gradient g:
///
///     m ← β1·m + (1 − β1)·g
///     v ← β2·v + (1 − β2)·g²
///     p ← p − lr·( λ·p + (m / (1 − β1ᵗ)) / (√(v / (1 − β2ᵗ)) + ε) )
///
/// The GPU kernel `sy_adamw` (moe_optimizer.cu) computes the same expression in fp32.
///
/// ```swift
/// let optimizer = try AdamW(learningRate: 1e-3)
/// var moments = AdamWMoments(count: weights.w1.count)
/// optimizer.update(&weights.w1.scalars, gradient: gradients.w1.scalars, moments: &moments, step: 1)
/// ```
public struct AdamW: Sendable, Hashable {
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    /// λ, the decoupled weight decay (multiplied by the learning rate, not by the gradient's scale).
    public var weightDecay: Double

    /// Throws ``SwitchyardError`` unless lr, ε, λ ≥ 0 are finite (lr, ε > 0) and β1, β2 lie in [0, 1).
    public init(
        learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
        weightDecay: Double = 0.01
    ) throws {
        func bad(_ message: String) -> SwitchyardError { SwitchyardError(.invalidConfiguration, message) }
        guard learningRate > 0, learningRate.isFinite else {
            throw bad("learning rate must be positive and finite, got \(learningRate)")
        }
        guard (0..<1).contains(beta1), (0..<1).contains(beta2) else {
            throw bad("β1 and β2 must lie in [0, 1), got \(beta1) and \(beta2)")
        }
        guard epsilon > 0, epsilon.isFinite else { throw bad("ε must be positive and finite, got \(epsilon)") }
        guard weightDecay >= 0, weightDecay.isFinite else {
            throw bad("weight decay must be finite and ≥ 0, got \(weightDecay)")
        }
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// The bias corrections 1/(1 − β1ᵗ) and 1/(1 − β2ᵗ) of step t ≥ 1 (computed in Double, once per step).
    public func biasCorrections(step: Int) -> (first: Double, second: Double) {
        precondition(step >= 1, "AdamW steps count from 1, got \(step)")
        func power(_ base: Double) -> Double {
            var result = 1.0
            for _ in 0..<min(step, 100_000) { result *= base }
            return result
        }
        return (1 / (1 - power(beta1)), 1 / (1 - power(beta2)))
    }

    /// Applies step t ≥ 1 to `parameters` in place, updating the moments; math in Float, as on the GPU.
    public func update(_ parameters: inout [Float], gradient: [Float], moments: inout AdamWMoments, step: Int) {
        precondition(gradient.count == parameters.count && moments.first.count == parameters.count
                     && moments.second.count == parameters.count,
                     "AdamW: parameters, gradient and moments must have the same count")
        let (c1, c2) = biasCorrections(step: step)
        // 1 − β in Double, then rounded: Float(1 − 0.999) is 1e-3 to 7 digits, 1 − Float(0.999) only to 4.
        let lr = Float(learningRate), b1 = Float(beta1), b2 = Float(beta2), eps = Float(epsilon)
        let a1 = Float(1 - beta1), a2 = Float(1 - beta2)
        let decay = Float(weightDecay), first = Float(c1), second = Float(c2)
        for i in parameters.indices {
            let g = gradient[i]
            let m = b1 * moments.first[i] + a1 * g
            let v = b2 * moments.second[i] + a2 * g * g
            moments.first[i] = m
            moments.second[i] = v
            let p = parameters[i]
            parameters[i] = p - lr * (decay * p + (m * first) / ((v * second).squareRoot() + eps))
        }
    }
}

/// AdamW's per-parameter state: the first and second moments, zero before the first step.
public struct AdamWMoments: Sendable, Equatable {
    public var first: [Float]
    public var second: [Float]

    public init(count: Int) {
        first = [Float](repeating: 0, count: count)
        second = first
    }
}
