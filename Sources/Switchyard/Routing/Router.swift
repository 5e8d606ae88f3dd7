/// The routers of ``RouterKind``: top-K selection with a deterministic tie rule, scores, capacity dropping and
/// token rounding. See the "Routing" article (docs/routing.md) for the formulas and conventions.
///
/// ```swift
/// let decision = try Router.route(logits: z, bias: weights.routerBias, config: config)
/// let plan = try RoutingPlan(tokens: T, experts: E, topK: decision.slots, expertIndex: decision.expertIndex)
/// ```
public enum Router {
    /// Routes every token from its logits Z [T, E].
    ///
    /// - Parameters:
    ///   - bias: [E], the sigmoid router's score-correction bias (selection only; ignored by other routers).
    ///   - override: [T·K] expert indices to use instead of the router's own picks, in slot order (distinct
    ///     within a token); scores follow the router's formula for those experts. Capacity and rounding apply
    ///     after it as they would to the router's own picks. `margin` still describes the router's own choice.
    /// - Throws: ``SwitchyardError`` on a bad configuration, mismatched shapes, non-finite logits or an
    ///   out-of-range or repeated override entry.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func route<S: BinaryFloatingPoint & Sendable>(
        logits: Tensor<S>, bias: Tensor<S>, config: MoEConfig, override: [Int32]? = nil
    ) throws -> RouterDecision {
        try config.validate()
        let experts = config.experts, topK = config.topK
        guard logits.shape.count == 2, logits.shape[1] == experts else {
            throw SwitchyardError(.shapeMismatch, "router logits must have shape [T, \(experts)], got \(logits.shape)")
        }
        try bias.requireShape([experts], "router score-correction bias")
        try logits.requireFinite("router logits")
        try bias.requireFinite("router score-correction bias")
        let tokens = logits.shape[0]
        let z = logits.scalars.map { Double($0) }
        let b = bias.scalars.map { Double($0) }

        var own = [Int32](repeating: 0, count: tokens * topK)
        var margin = [Double](repeating: .infinity, count: tokens)
        var values = [Double](repeating: 0, count: experts)
        for t in 0..<tokens {
            for e in 0..<experts {
                let logit = z[t * experts + e]
                if case .sigmoidBias = config.router.kind {
                    values[e] = Elementary.sigmoid(logit) + b[e]
                } else {
                    values[e] = logit
                }
            }
            let (chosen, gap) = values.withUnsafeBufferPointer { select(config: config, values: $0) }
            for k in 0..<topK { own[t * topK + k] = Int32(chosen[k]) }
            margin[t] = gap
        }
        let selected = try override.map { try validatedOverride($0, tokens: tokens, config: config) } ?? own
        let rule = ScoreRule(kind: config.router.kind, logits: z, selected: selected, experts: experts, topK: topK)
        var expertIndex = selected
        var scores = [Double](repeating: 0, count: tokens * topK)
        for a in 0..<(tokens * topK) {
            let t = a / topK
            scores[a] = rule.score(token: t, logit: z[t * experts + Int(selected[a])])
        }
        var assignments = Assignments(
            tokens: tokens, experts: experts, topK: topK, selected: selected, expertIndex: expertIndex, scores: scores)
        if let factor = config.router.capacityFactor { assignments.applyCapacity(factor: factor) }
        if let rounding = config.router.tokenRounding {
            assignments.applyRounding(rounding) { t, e in rule.score(token: t, logit: z[t * experts + e]) }
        }
        let slots: Int
        (expertIndex, scores, slots) = assignments.slotLayout()
        return RouterDecision(
            tokens: tokens, experts: experts, topK: topK, slots: slots, selected: selected, expertIndex: expertIndex,
            scores: scores, margin: margin)
    }

    /// One token's picks, best first, and its selection margin.
    static func select(config: MoEConfig, values: UnsafeBufferPointer<Double>) -> (chosen: [Int], margin: Double) {
        let topK = config.topK
        guard case .sigmoidBias(let groups, let topKGroups, _) = config.router.kind, topKGroups < groups else {
            let (chosen, runnerUp) = TopKSelection.select(topK, from: values)
            return (chosen, runnerUp.map { values[chosen[topK - 1]] - values[$0] } ?? .infinity)
        }
        let size = values.count / groups
        var groupScores = [Double](repeating: 0, count: groups)
        for g in 0..<groups {
            let members = UnsafeBufferPointer(rebasing: values[(g * size)..<(g * size + size)])
            let (best, _) = TopKSelection.select(min(2, size), from: members)
            groupScores[g] = best.reduce(0) { $0 + members[$1] }
        }
        let (keptGroups, firstDropped) = groupScores.withUnsafeBufferPointer { TopKSelection.select(topKGroups, from: $0) }
        var eligible = [Bool](repeating: false, count: groups)
        for g in keptGroups { eligible[g] = true }
        let (chosen, runnerUp) = TopKSelection.select(topK, from: values) { eligible[$0 / size] }
        var gap = runnerUp.map { values[chosen[topK - 1]] - values[$0] } ?? .infinity
        if let dropped = firstDropped {
            gap = min(gap, groupScores[keptGroups[topKGroups - 1]] - groupScores[dropped])
        }
        return (chosen, gap)
    }

    static func validatedOverride(_ override: [Int32], tokens: Int, config: MoEConfig) throws -> [Int32] {
        let topK = config.topK, experts = config.experts
        guard override.count == tokens * topK else {
            throw SwitchyardError(
                .shapeMismatch, "routingOverride must hold T·K = \(tokens * topK) expert indices, got \(override.count)")
        }
        for t in 0..<tokens {
            let row = override[(t * topK)..<(t * topK + topK)]
            for (k, e) in row.enumerated() {
                guard e >= 0, Int(e) < experts else {
                    throw SwitchyardError(
                        .invalidConfiguration,
                        "routingOverride[\(t * topK + k)] = \(e) is out of range 0..<\(experts)")
                }
                guard !row.prefix(k).contains(e) else {
                    throw SwitchyardError(
                        .invalidConfiguration, "routingOverride repeats expert \(e) for token \(t); picks must be distinct")
                }
            }
        }
        return override
    }
}
