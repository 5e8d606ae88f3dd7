/// What the router decided for a batch: the chosen experts, each assignment's score, and how close each token
/// was to choosing differently.
///
/// Slots: each token has `topK` slots for its own picks, in descending order of the selection value, plus
/// `slots − topK` extra slots that only up-rounding (``TokenRounding``) fills; an empty or dropped slot has
/// expert −1 and score 0. Scores are computed in Double from the logits.
public struct RouterDecision: Sendable, Equatable {
    public var tokens: Int
    public var experts: Int
    public var topK: Int
    /// Slots per token: `topK` plus the extra slots that up-rounding added (0 without token rounding).
    public var slots: Int
    /// [T·K]: the router's picks (or the override) before capacity and rounding; the normalizing set of
    /// the renormalized and sigmoid routers, and the assignments the load-balancing loss counts.
    public var selected: [Int32]
    /// [T·slots]: the expert of each slot after capacity and rounding (−1: empty or dropped).
    public var expertIndex: [Int32]
    /// [T·slots]: the score s of each slot (0 where the expert is −1).
    public var scores: [Double]
    /// [T]: the gap between the K-th and the (K+1)-th selection value (and, for group-limited routing, the gap
    /// between the last kept and the first dropped group, if smaller); +∞ when nothing was left out.
    /// Selection values are the logits for softmax and Mixtral routers, σ(z) + bias for the sigmoid router.
    public var margin: [Double]

    public init(
        tokens: Int, experts: Int, topK: Int, slots: Int, selected: [Int32], expertIndex: [Int32],
        scores: [Double], margin: [Double]
    ) {
        self.tokens = tokens
        self.experts = experts
        self.topK = topK
        self.slots = slots
        self.selected = selected
        self.expertIndex = expertIndex
        self.scores = scores
        self.margin = margin
    }

    /// Kept assignments per expert.
    public var counts: [Int32] {
        var counts = [Int32](repeating: 0, count: experts)
        for e in expertIndex where e >= 0 { counts[Int(e)] += 1 }
        return counts
    }
}
