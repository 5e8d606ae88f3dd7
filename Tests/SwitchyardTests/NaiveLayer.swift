import Foundation
@testable import Switchyard

/// A direct, token-by-token float64 evaluation of the MoE layer from MOE.md §1, written independently of the
/// reference layer (no GEMM, no dispatch, no routing plan) to check it against. No capacity or rounding.
struct NaiveLayer {
    var weights: MoEWeights<Double>
    var config: MoEConfig { weights.config }

    func logits(_ x: [Double]) -> [Double] {
        let d = config.hidden, E = config.experts
        return (0..<E).map { e in (0..<d).reduce(0) { $0 + x[$1] * weights.router.scalars[$1 * E + e] } }
    }

    /// The chosen experts, best first, and their scores.
    func route(_ z: [Double]) -> [(expert: Int, score: Double)] {
        let E = config.experts, K = config.topK
        func best(_ candidates: [Int], _ value: (Int) -> Double, _ count: Int) -> [Int] {
            Array(candidates.sorted { value($0) > value($1) || (value($0) == value($1) && $0 < $1) }.prefix(count))
        }
        switch config.router.kind {
        case .softmaxTopK(let renormalize):
            let total = z.reduce(0) { $0 + exp($1) }
            let picks = best(Array(0..<E), { z[$0] }, K)
            let chosenTotal = picks.reduce(0) { $0 + exp(z[$1]) / total }
            return picks.map { ($0, exp(z[$0]) / total / (renormalize ? chosenTotal : 1)) }
        case .mixtral:
            let picks = best(Array(0..<E), { z[$0] }, K)
            let total = picks.reduce(0) { $0 + exp(z[$1]) }
            return picks.map { ($0, exp(z[$0]) / total) }
        case .sigmoidBias(let groups, let topKGroups, let scaling):
            let sigma = z.map { 1 / (1 + exp(-$0)) }
            let value = (0..<E).map { sigma[$0] + weights.routerBias.scalars[$0] }
            let size = E / groups
            let groupScore = (0..<groups).map { g in
                Array((g * size)..<(g * size + size)).map { value[$0] }.sorted(by: >).prefix(2).reduce(0, +)
            }
            let keptGroups = Set(best(Array(0..<groups), { groupScore[$0] }, topKGroups))
            let picks = best((0..<E).filter { keptGroups.contains($0 / size) }, { value[$0] }, K)
            let total = picks.reduce(0) { $0 + sigma[$1] }
            return picks.map { ($0, scaling * sigma[$0] / total) }
        }
    }

    static func activate(_ h: [Double], _ activation: Activation) -> [Double] {
        switch activation {
        case .swiglu:
            let n = h.count / 2
            return (0..<n).map { h[$0] / (1 + exp(-h[$0])) * h[n + $0] }
        case .geglu:
            let n = h.count / 2
            return (0..<n).map { i in
                let g = h[i]
                return 0.5 * g * (1 + tanh((2 / Double.pi).squareRoot() * (g + 0.044715 * g * g * g))) * h[n + i]
            }
        case .reluSquared:
            return h.map { max($0, 0) * max($0, 0) }
        }
    }

    /// act(x·W1)·W2 for one expert's weights.
    func mlp(_ x: [Double], w1: ArraySlice<Double>, w2: ArraySlice<Double>, intermediate n: Int) -> [Double] {
        let d = config.hidden, up = config.activation.isGated ? 2 * n : n
        let h = (0..<up).map { j in (0..<d).reduce(0) { $0 + x[$1] * w1[w1.startIndex + $1 * up + j] } }
        let a = NaiveLayer.activate(h, config.activation)
        return (0..<d).map { i in (0..<n).reduce(0) { $0 + a[$1] * w2[w2.startIndex + $1 * d + i] } }
    }

    /// Y of one (token, expert) pair.
    func expertOutput(_ x: [Double], expert e: Int) -> [Double] {
        let d = config.hidden, n = config.intermediate, up = config.upColumns
        return mlp(x, w1: weights.w1.scalars[(e * d * up)..<((e + 1) * d * up)],
                   w2: weights.w2.scalars[(e * n * d)..<((e + 1) * n * d)], intermediate: n)
    }

    /// O for every token, [T·d].
    func output(_ x: Tensor<Double>) -> [Double] {
        let d = config.hidden, T = x.shape[0]
        let ns = config.sharedIntermediate, sup = config.sharedUpColumns
        var out: [Double] = []
        for t in 0..<T {
            let row = Array(x.scalars[(t * d)..<((t + 1) * d)])
            var o = [Double](repeating: 0, count: d)
            for (e, s) in route(logits(row)) {
                let y = expertOutput(row, expert: e)
                for i in 0..<d { o[i] += s * y[i] }
            }
            for s in 0..<config.sharedExperts {
                let y = mlp(row, w1: weights.sharedW1.scalars[(s * d * sup)..<((s + 1) * d * sup)],
                            w2: weights.sharedW2.scalars[(s * ns * d)..<((s + 1) * ns * d)], intermediate: ns)
                for i in 0..<d { o[i] += y[i] }
            }
            out += o
        }
        return out
    }
}
