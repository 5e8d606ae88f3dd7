import Testing
@testable import Switchyard

/// The routing rule of `switchyard check`: a device may pick other experts than the float64 reference only where the
/// reference itself is at a near-tie (its selection margin ≤ 1e-4 · max(1, max |z|)).
@Suite("Conformance near-tie rule")
struct ConformanceNearTieTests {
    @Test("plain top-K: the gap between the K-th pick and the runner-up decides")
    func plainTopK() throws {
        let config = try MoEConfig(hidden: 8, intermediate: 4, experts: 4, topK: 2,
                                   router: RouterConfig(kind: .softmaxTopK(renormalize: true)))
        let bias = [Double](repeating: 0, count: 4)
        // Picks 0 and 1; runner-up 2 trails pick 1 by 5e-5 (a near-tie) or by 0.1 (a real decision).
        let close = Conformance.nearTie(logits: [2.0, 1.0, 1.0 - 5e-5, -3.0], bias: bias, config: config)
        #expect(close.near)
        #expect(abs(close.margin - 5e-5) < 1e-12)
        let far = Conformance.nearTie(logits: [2.0, 1.0, 0.9, -3.0], bias: bias, config: config)
        #expect(!far.near)
        #expect(abs(far.margin - 0.1) < 1e-12)
    }

    @Test("group-limited routing: a near-tie of group scores counts, though the experts' own values are far apart")
    func groupScores() throws {
        // 4 groups of 4 experts, 2 groups kept, K = 2; the group score is the sum of its best two selection values.
        let config = try MoEConfig(hidden: 8, intermediate: 4, experts: 16, topK: 2,
                                   router: RouterConfig(kind: .sigmoidBias(groups: 4, topKGroups: 2, scaling: 1)))
        var bias = [Double](repeating: -1, count: 16)
        // Selection values σ(0) + bias. Group 0: 1.5, 0.5 (score 2.0). Group 1: 0.9, 0.7 (1.6). Group 2: 1.1,
        // 0.5 − 2e-5 (1.6 − 2e-5), a near-tie with group 1 although its experts' values are far from group 1's.
        // Kept: groups 0 and 1; picks 1.5 and 0.9, runner-up 0.7 (an expert gap of 0.2).
        bias[0] = 1; bias[1] = 0
        bias[4] = 0.4; bias[5] = 0.2
        bias[8] = 0.6; bias[9] = 0.0 - 2e-5
        let logits = [Double](repeating: 0, count: 16)  // σ(0) = 0.5 everywhere: the bias decides
        let tie = Conformance.nearTie(logits: logits, bias: bias, config: config)
        #expect(tie.near)
        #expect(abs(tie.margin - 2e-5) < 1e-9)
        // Move group 2's score down to 1.5: the group choice is now a real decision (margin 0.1).
        bias[9] = -0.1
        let decided = Conformance.nearTie(logits: logits, bias: bias, config: config)
        #expect(!decided.near)
        #expect(abs(decided.margin - 0.1) < 1e-9)
    }
}
