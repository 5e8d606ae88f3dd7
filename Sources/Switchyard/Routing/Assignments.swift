/// The (token, expert) assignments between selection and dispatch, where capacity dropping and token rounding
/// edit them.
struct Assignments {
    var tokens: Int
    var experts: Int
    var topK: Int
    var selected: [Int32]
    /// [T·K]: the expert of each of the router's slots (−1: dropped).
    var expertIndex: [Int32]
    var scores: [Double]
    /// Assignments that up-rounding added beyond a token's own picks, by token, in increasing expert order.
    var extras: [[(expert: Int32, score: Double)]]

    init(tokens: Int, experts: Int, topK: Int, selected: [Int32], expertIndex: [Int32], scores: [Double]) {
        self.tokens = tokens
        self.experts = experts
        self.topK = topK
        self.selected = selected
        self.expertIndex = expertIndex
        self.scores = scores
        self.extras = Array(repeating: [], count: tokens)
    }

    /// The per-expert capacity ceil(T·K·factor / E).
    static func capacity(tokens: Int, topK: Int, experts: Int, factor: Double) -> Int {
        Int((Double(tokens * topK) * factor / Double(experts)).rounded(.up))
    }

    /// Keeps each expert's first `capacity` assignments in token order (then slot order); drops the rest.
    mutating func applyCapacity(factor: Double) {
        let capacity = Self.capacity(tokens: tokens, topK: topK, experts: experts, factor: factor)
        var used = [Int](repeating: 0, count: experts)
        for a in expertIndex.indices where expertIndex[a] >= 0 {
            let e = Int(expertIndex[a])
            if used[e] < capacity {
                used[e] += 1
            } else {
                drop(a)
            }
        }
    }

    /// SonicMoE token rounding: each expert's count becomes a multiple of the tile. Rounding down drops the
    /// expert's lowest-score assignments (on equal scores, the later token first); rounding up adds the tokens
    /// with the highest score for that expert among those not assigned to it (on equal scores, the earlier
    /// token first), restoring a pick that capacity dropped into its own slot, or else using an extra slot.
    /// An expert never holds a token twice, so where rounding up would need more than T tokens it rounds down.
    mutating func applyRounding(_ rounding: TokenRounding, score: (_ token: Int, _ expert: Int) -> Double) {
        var members = [[Int]](repeating: [], count: experts)
        for a in expertIndex.indices where expertIndex[a] >= 0 { members[Int(expertIndex[a])].append(a) }
        for e in 0..<experts {
            let count = members[e].count
            let target = Self.roundedCount(count, rounding: rounding, limit: tokens)
            if target < count {
                let order = members[e].sorted { scores[$0] < scores[$1] || (scores[$0] == scores[$1] && $0 > $1) }
                for a in order.prefix(count - target) { drop(a) }
            } else if target > count {
                var assigned = [Bool](repeating: false, count: tokens)
                for a in members[e] { assigned[a / topK] = true }
                var candidates: [(token: Int, score: Double)] = []
                for t in 0..<tokens where !assigned[t] { candidates.append((t, score(t, e))) }
                candidates.sort { $0.score > $1.score || ($0.score == $1.score && $0.token < $1.token) }
                for candidate in candidates.prefix(target - count) {
                    let t = candidate.token
                    if let k = (0..<topK).first(where: { selected[t * topK + $0] == Int32(e) }) {
                        expertIndex[t * topK + k] = Int32(e)
                        scores[t * topK + k] = candidate.score
                    } else {
                        extras[t].append((Int32(e), candidate.score))
                    }
                }
            }
        }
    }

    /// `count` rounded to a multiple of the tile by `rounding.mode`; nearest rounds halves up. Counts above
    /// `limit` are impossible, so an upward result beyond it falls back to rounding down.
    static func roundedCount(_ count: Int, rounding: TokenRounding, limit: Int) -> Int {
        let tile = rounding.tile
        let down = count / tile * tile
        let up = down == count ? count : down + tile
        let upward: Bool
        switch rounding.mode {
        case .down: upward = false
        case .up: upward = true
        case .nearest: upward = 2 * (count - down) >= tile
        }
        return upward && up <= limit ? up : down
    }

    /// Expert indices and scores as [T·slots], slots = K + the most extras any token received.
    func slotLayout() -> (expertIndex: [Int32], scores: [Double], slots: Int) {
        let slots = topK + (extras.map(\.count).max() ?? 0)
        guard slots > topK else { return (expertIndex, scores, topK) }
        var index = [Int32](repeating: -1, count: tokens * slots)
        var values = [Double](repeating: 0, count: tokens * slots)
        for t in 0..<tokens {
            for k in 0..<topK {
                index[t * slots + k] = expertIndex[t * topK + k]
                values[t * slots + k] = scores[t * topK + k]
            }
            for (j, extra) in extras[t].enumerated() {
                index[t * slots + topK + j] = extra.expert
                values[t * slots + topK + j] = extra.score
            }
        }
        return (index, values, slots)
    }

    private mutating func drop(_ a: Int) {
        expertIndex[a] = -1
        scores[a] = 0
    }
}
