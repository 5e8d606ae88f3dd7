extension Router {
    /// The unscaled load-balancing loss E·Σ_e f_e·P̄_e and z-loss mean_t(logsumexp(Z_t)²).
    ///
    /// f_e is the fraction of the router's T·K picks (`decision.selected`, before capacity and rounding) that
    /// went to e; P̄_e is the mean over tokens of the router probability: softmax(Z) for the softmax and Mixtral
    /// routers, σ(Z_e) / Σ σ(Z) for the sigmoid router (DeepSeek-V3's balance loss). Both are 0 when T = 0.
    public static func losses<S: BinaryFloatingPoint & Sendable>(
        logits: Tensor<S>, decision: RouterDecision, config: MoEConfig
    ) -> (aux: Double, z: Double) {
        let statistics = LossStatistics(logits: logits, decision: decision, config: config)
        return (statistics.aux, statistics.z)
    }

    /// dZ [T·E]: the gradient of Σ dS·s + auxCoef·aux + zCoef·z with respect to the logits, where `scoreGradient`
    /// is dS [T·slots] in the decision's slot layout (entries of empty or dropped slots are ignored).
    public static func logitGradient<S: BinaryFloatingPoint & Sendable>(
        scoreGradient: [Double], logits: Tensor<S>, decision: RouterDecision, config: MoEConfig
    ) throws -> [Double] {
        let tokens = decision.tokens, experts = decision.experts, topK = decision.topK, slots = decision.slots
        guard scoreGradient.count == tokens * slots, logits.shape == [tokens, experts] else {
            throw SwitchyardError(
                .shapeMismatch,
                "score gradient must hold T·slots = \(tokens * slots) values and logits be [\(tokens), \(experts)]; "
                    + "got \(scoreGradient.count) and \(logits.shape)")
        }
        let z = logits.scalars.map { Double($0) }
        let rule = ScoreRule(kind: config.router.kind, logits: z, selected: decision.selected, experts: experts, topK: topK)
        var gradient = [Double](repeating: 0, count: tokens * experts)
        var perExpert = [Double](repeating: 0, count: experts)
        // Differences of dS are formed pairwise, Σ_j s_j (dS_e − dS_j) + dS_e (norm − Σ_j s_j), rather than
        // dS_e − Σ_j s_j dS_j: with a saturated router (one score ≈ 1) the true gradient is tiny and the direct form
        // cancels it away. 1 − p_e of the full softmax is summed from the other experts for the same reason.
        for t in 0..<tokens {
            for e in 0..<experts { perExpert[e] = 0 }
            var kept: [(expert: Int, gradient: Double, score: Double)] = []
            let row = t * experts
            for j in 0..<slots where decision.expertIndex[t * slots + j] >= 0 {
                let e = Int(decision.expertIndex[t * slots + j])
                // The score in Double from the logits, not the stored one, which may be rounded to Float.
                let score = rule.score(token: t, logit: z[row + e])
                perExpert[e] += scoreGradient[t * slots + j]
                kept.append((e, scoreGradient[t * slots + j], score))
            }
            switch rule.form {
            case .softmax:
                // dZ_e = p_e (g_e − Σ_m g_m p_m) over all experts, g = dS at the chosen experts and 0 elsewhere.
                let p = (0..<experts).map { rule.score(token: t, logit: z[row + $0]) }
                let chosenWeighted = kept.reduce(0.0) { $0 + $1.gradient * $1.score }
                for e in 0..<experts {
                    guard perExpert[e] != 0 else {
                        gradient[row + e] = -p[e] * chosenWeighted
                        continue
                    }
                    var others = 0.0  // 1 − p_e
                    for i in 0..<experts where i != e { others += p[i] }
                    var rest = 0.0  // Σ over the other chosen slots of g·p
                    for slot in kept where slot.expert != e { rest += slot.gradient * slot.score }
                    gradient[row + e] = p[e] * (perExpert[e] * others - rest)
                }
            case .normalizedExponential, .normalizedSigmoid:
                // Experts in the normalizer (the router's K picks, kept or dropped) get r_e (c·dS_e − Σ_kept s·dS)
                // with c = Σ_picks r (1, or the routed scaling); experts added by token rounding get r_e·c·dS_e.
                // c·dS_e − Σ_kept s·dS = Σ_kept s_j (dS_e − dS_j) + dS_e (Σ_dropped r − Σ_added s).
                let picks = Set(decision.selected[(t * topK)..<(t * topK + topK)].map { Int($0) })
                var residual = 0.0
                for e in picks where !kept.contains(where: { $0.expert == e }) {
                    residual += rule.score(token: t, logit: z[row + e])
                }
                for slot in kept where !picks.contains(slot.expert) { residual -= slot.score }
                for e in 0..<experts where perExpert[e] != 0 || picks.contains(e) {
                    let value: Double
                    if picks.contains(e) {
                        let pairwise = kept.reduce(0.0) { $0 + $1.score * (perExpert[e] - $1.gradient) }
                        value = pairwise + perExpert[e] * residual
                    } else {
                        value = rule.weight * perExpert[e]
                    }
                    if rule.form == .normalizedExponential {
                        gradient[row + e] = rule.score(token: t, logit: z[row + e]) / rule.weight * value
                    } else {
                        let sigmaGradient = value / rule.denominator[t]
                        gradient[row + e] = sigmaGradient * Elementary.sigmoid(z[row + e]) * Elementary.sigmoid(-z[row + e])
                    }
                }
            }
        }
        let auxCoefficient = config.router.auxLossCoefficient, zCoefficient = config.router.zLossCoefficient
        if tokens > 0 && (auxCoefficient != 0 || zCoefficient != 0) {
            LossStatistics(logits: logits, decision: decision, config: config)
                .addGradient(into: &gradient, aux: auxCoefficient, z: zCoefficient)
        }
        return gradient
    }
}

/// The probabilities and log-partition values behind the router losses.
private struct LossStatistics {
    var tokens: Int
    var experts: Int
    var sigmoidRouter: Bool
    var logits: [Double]
    /// [E]: f_e, the fraction of the router's picks that went to e.
    var fraction: [Double]
    /// [T]: logsumexp(Z_t).
    var logPartition: [Double]
    var aux = 0.0
    var z = 0.0

    init<S: BinaryFloatingPoint>(logits: Tensor<S>, decision: RouterDecision, config: MoEConfig) {
        tokens = decision.tokens
        experts = decision.experts
        if case .sigmoidBias = config.router.kind { sigmoidRouter = true } else { sigmoidRouter = false }
        self.logits = logits.scalars.map { Double($0) }
        fraction = [Double](repeating: 0, count: experts)
        for e in decision.selected { fraction[Int(e)] += 1 }
        let picks = Double(max(decision.selected.count, 1))
        for e in 0..<experts { fraction[e] /= picks }
        logPartition = [Double](repeating: 0, count: tokens)
        guard tokens > 0 else { return }
        var meanProbability = [Double](repeating: 0, count: experts)
        for t in 0..<tokens {
            let row = self.logits[(t * experts)..<(t * experts + experts)]
            let top = row.max() ?? 0
            logPartition[t] = top + Elementary.log(row.reduce(0) { $0 + Elementary.exp($1 - top) })
            z += logPartition[t] * logPartition[t]
            let p = probabilities(token: t)
            for e in 0..<experts { meanProbability[e] += p[e] }
        }
        z /= Double(tokens)
        for e in 0..<experts { aux += fraction[e] * meanProbability[e] / Double(tokens) }
        aux *= Double(experts)
    }

    /// P_t: softmax(Z_t), or σ(Z_t) / Σ σ(Z_t) for the sigmoid router.
    func probabilities(token t: Int) -> [Double] {
        let row = t * experts
        if sigmoidRouter {
            let sigma = (0..<experts).map { Elementary.sigmoid(logits[row + $0]) }
            let total = sigma.reduce(0, +)
            return sigma.map { $0 / total }
        }
        return (0..<experts).map { Elementary.exp(logits[row + $0] - logPartition[t]) }
    }

    /// Adds auxCoef·∂aux/∂Z + zCoef·∂z/∂Z (f_e is a constant: it counts discrete picks).
    func addGradient(into gradient: inout [Double], aux auxCoefficient: Double, z zCoefficient: Double) {
        let T = Double(tokens)
        let h = fraction.map { auxCoefficient * Double(experts) * $0 / T }
        for t in 0..<tokens {
            let row = t * experts
            let p = probabilities(token: t)
            let mean = (0..<experts).reduce(0) { $0 + h[$1] * p[$1] }
            if sigmoidRouter {
                let total = (0..<experts).reduce(0) { $0 + Elementary.sigmoid(logits[row + $1]) }
                for e in 0..<experts {
                    let sigma = Elementary.sigmoid(logits[row + e])
                    gradient[row + e] += (h[e] - mean) / total * sigma * (1 - sigma)
                }
            } else {
                for e in 0..<experts { gradient[row + e] += p[e] * (h[e] - mean) }
            }
            let zScale = zCoefficient * 2 * logPartition[t] / T
            for e in 0..<experts {
                gradient[row + e] += zScale * Elementary.exp(logits[row + e] - logPartition[t])
            }
        }
    }
}
