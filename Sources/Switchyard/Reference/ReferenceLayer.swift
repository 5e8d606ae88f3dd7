/// The CPU reference MoE layer: the correctness oracle for every GPU kernel.
///
/// Generic over Float and Double; every GEMM accumulates in the scalar type with one fixed summation order
/// per element, so results are the same bytes on every run and for every thread count. Transcendentals and
/// router math are evaluated in Double. See docs/routing.md and docs/backward.md.
///
/// ```swift
/// let weights = MoEWeights<Double>.random(config: config, seed: 1)
/// let forward = try ReferenceLayer.forward(x, weights: weights)
/// let gradients = try ReferenceLayer.backward(dO, input: x, weights: weights, forward: forward)
/// ```
public enum ReferenceLayer {
    /// Checks the configuration, the weights, X [T, d] and the scalar type; returns T and the thread count.
    static func validate<S: BinaryFloatingPoint & Sendable>(
        _ x: Tensor<S>, weights: MoEWeights<S>, threads: Int?
    ) throws -> (tokens: Int, threads: Int) {
        guard S.self == Float.self || S.self == Double.self else {
            throw SwitchyardError(.unsupported, "the reference layer computes in Float or Double, not \(S.self)")
        }
        try weights.config.validate()
        try weights.validate()
        let d = weights.config.hidden
        guard x.shape.count == 2, x.shape[1] == d else {
            throw SwitchyardError(.shapeMismatch, "input X must have shape [T, \(d)], got \(x.shape)")
        }
        if let threads, threads < 1 {
            throw SwitchyardError(.invalidConfiguration, "threads must be ≥ 1, got \(threads)")
        }
        try x.requireFinite("input X")
        try weights.router.requireFinite("router weight Wr")
        try weights.routerBias.requireFinite("router score-correction bias")
        return (x.shape[0], threads ?? defaultThreadCount)
    }

    /// One problem per expert over its rows in plan order: C_e = A_e·B_e, where `a(e, first)` and `b(e)`
    /// describe the operands and `c(e, first)` the output of expert e, whose rows start at `first`.
    static func perExpert<S>(
        _ plan: RoutingPlan, m: (Int) -> Int, n: Int, k: (Int) -> Int, ldc: Int, includeEmpty: Bool = false,
        a: (_ expert: Int, _ first: Int) -> MatrixOperand<S>, b: (_ expert: Int, _ first: Int) -> MatrixOperand<S>,
        c: (_ expert: Int, _ first: Int) -> UnsafeMutablePointer<S>
    ) -> [GEMMProblem<S>] {
        (0..<plan.experts).compactMap { e in
            let first = Int(plan.offsets[e])
            guard includeEmpty || plan.counts[e] > 0 else { return nil }
            return GEMMProblem(a: a(e, first), b: b(e, first), c: c(e, first), ldc: ldc, m: m(e), n: n, k: k(e))
        }
    }
}
