/// How each router turns logits into scores, token by token: s(t, e) = weight · f(z[t,e] − shift_t) / D_t.
///
/// - softmax top-K: f = exp, shift = max over all E, D = Σ over all E (s = p_e);
/// - softmax top-K renormalized, and Mixtral: f = exp, shift = max over the picks N, D = Σ over N
///   (s = p_e / Σ_N p = exp(z_e) / Σ_N exp(z), the same numbers for both);
/// - sigmoid with bias: f = σ, D = Σ_N σ, weight = the routed scaling factor.
///
/// Only the picks N (the router's own, or the override) form D, so a dropped pick still normalizes the others
/// and an assignment added by up-rounding gets the score its token would give that expert.
@usableFromInline
struct ScoreRule: Sendable {
    @usableFromInline enum Form: Sendable { case softmax, normalizedExponential, normalizedSigmoid }
    @usableFromInline var form: Form
    @usableFromInline var weight: Double
    @usableFromInline var shift: [Double]
    @usableFromInline var denominator: [Double]

    /// `logits` is [T·E] and `selected` [T·K], both row-major by token.
    @usableFromInline
    init(kind: RouterKind, logits: [Double], selected: [Int32], experts: Int, topK: Int) {
        let tokens = experts == 0 ? 0 : logits.count / experts
        switch kind {
        case .softmaxTopK(renormalize: false): form = .softmax; weight = 1
        case .softmaxTopK(renormalize: true), .mixtral: form = .normalizedExponential; weight = 1
        case .sigmoidBias(_, _, let scaling): form = .normalizedSigmoid; weight = scaling
        }
        shift = [Double](repeating: 0, count: tokens)
        denominator = [Double](repeating: 1, count: tokens)
        for t in 0..<tokens {
            let row = logits[(t * experts)..<(t * experts + experts)]
            let picks = selected[(t * topK)..<(t * topK + topK)].map { row[row.startIndex + Int($0)] }
            switch form {
            case .softmax:
                let top = row.max() ?? 0
                shift[t] = top
                denominator[t] = row.reduce(0) { $0 + Elementary.exp($1 - top) }
            case .normalizedExponential:
                let top = picks.max() ?? 0
                shift[t] = top
                denominator[t] = picks.reduce(0) { $0 + Elementary.exp($1 - top) }
            case .normalizedSigmoid:
                denominator[t] = picks.reduce(0) { $0 + Elementary.sigmoid($1) }
            }
        }
    }

    /// f(z − shift_t): the unnormalized score.
    @inline(__always) @usableFromInline
    func numerator(token t: Int, logit z: Double) -> Double {
        form == .normalizedSigmoid ? Elementary.sigmoid(z) : Elementary.exp(z - shift[t])
    }

    @inline(__always) @usableFromInline
    func score(token t: Int, logit z: Double) -> Double { weight * numerator(token: t, logit: z) / denominator[t] }
}
