/// The aux-loss-free balancing step of DeepSeek-V3: b_e += rate · sign(mean load − load_e).
///
/// Overloaded experts (load above the mean) move down, underloaded ones up; an expert exactly at the mean
/// stays. Pass `decision.counts` (or a forward pass's `plan.counts`) as the loads.
///
/// ```swift
/// try updateRouterBias(&weights.routerBias, counts: forward.plan.counts, rate: config.router.biasUpdateRate)
/// ```
/// - Throws: ``SwitchyardError`` when `counts` does not hold one load per expert, or `rate` is negative or
///   not finite.
public func updateRouterBias<S: BinaryFloatingPoint & Sendable>(
    _ bias: inout Tensor<S>, counts: [Int32], rate: Double
) throws {
    guard bias.shape.count == 1, counts.count == bias.count else {
        throw SwitchyardError(
            .shapeMismatch, "counts must hold one load per expert (\(bias.count)), got \(counts.count)")
    }
    guard rate >= 0, rate.isFinite else {
        throw SwitchyardError(.invalidConfiguration, "bias update rate must be finite and ≥ 0, got \(rate)")
    }
    guard !counts.isEmpty else { return }
    let mean = Double(counts.reduce(0) { $0 + Int($1) }) / Double(counts.count)
    for e in counts.indices {
        let load = Double(counts[e])
        let step: Double = load < mean ? rate : (load > mean ? -rate : 0)
        bias.scalars[e] += S(step)
    }
}
