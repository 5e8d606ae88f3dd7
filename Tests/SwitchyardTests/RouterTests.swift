import Foundation
import Testing
@testable import Switchyard

@Suite("Routers")
struct RouterTests {
    func logits(_ rows: [[Double]]) throws -> Tensor<Double> {
        try Tensor(shape: [rows.count, rows.first?.count ?? 0], scalars: rows.flatMap { $0 })
    }

    func route(_ z: [[Double]], _ config: MoEConfig, bias: [Double]? = nil, override: [Int32]? = nil) throws
        -> RouterDecision
    {
        let b = try Tensor(shape: [config.experts], scalars: bias ?? Array(repeating: 0, count: config.experts))
        return try Router.route(logits: logits(z), bias: b, config: config, override: override)
    }

    @Test("ties go to the lower expert index; slots are in descending order")
    func tieRule() throws {
        let config = try makeConfig(router: .softmaxTopK(renormalize: false), experts: 5, topK: 3)
        let decision = try route([[1, 3, 2, 3, 2]], config)
        #expect(decision.expertIndex == [1, 3, 2])
        #expect(decision.margin == [0])
        let two = try route([[1, 3, 2, 3, 0.5]], try makeConfig(experts: 5, topK: 2))
        #expect(two.expertIndex == [1, 3] && two.margin == [1])
    }

    @Test("softmax, renormalized softmax and Mixtral scores by hand")
    func softmaxScores() throws {
        let z = [0.5, -1, 2, 0.25]
        let e = z.map { exp($0) }, total = e.reduce(0, +)
        let plain = try route([z], try makeConfig(router: .softmaxTopK(renormalize: false), experts: 4, topK: 2))
        #expect(plain.expertIndex == [2, 0])
        #expect(abs(plain.scores[0] - e[2] / total) < 1e-15 && abs(plain.scores[1] - e[0] / total) < 1e-15)
        for kind in [RouterKind.softmaxTopK(renormalize: true), .mixtral] {
            let decision = try route([z], try makeConfig(router: kind, experts: 4, topK: 2))
            #expect(abs(decision.scores[0] - e[2] / (e[2] + e[0])) < 1e-15)
            #expect(abs(decision.scores[1] - e[0] / (e[2] + e[0])) < 1e-15)
        }
        #expect(plain.margin[0] == 0.25)
    }

    @Test("group-limited sigmoid selection by hand")
    func groupLimited() throws {
        // σ(0) = 0.5 everywhere, so the selection values are 0.5 + bias; group sums of both members:
        // g0 = 1.9, g1 = 1.95, g2 = 1.6, g3 = 2.05 → keep g3 and g1 → experts 2, 3, 6, 7 are eligible.
        let bias = [0.9, 0.0, 0.5, 0.45, 0.3, 0.3, 0.1, 0.95]
        let config = try makeConfig(router: .sigmoidBias(groups: 4, topKGroups: 2, scaling: 2.5), experts: 8, topK: 2)
        let decision = try route([[Double](repeating: 0, count: 8)], config, bias: bias)
        #expect(decision.expertIndex == [7, 2])
        #expect(decision.scores == [1.25, 1.25])
        #expect(abs(decision.margin[0] - 0.05) < 1e-12)
        let z = [0.3, -0.2, 1.1, 0.0, 0.4, -1.0, 0.2, 0.7]
        let moved = try route([z], config, bias: bias)
        let sigma = z.map { 1 / (1 + exp(-$0)) }
        let picks = moved.expertIndex.map { Int($0) }
        for (k, e) in picks.enumerated() {
            #expect(abs(moved.scores[k] - 2.5 * sigma[e] / (sigma[picks[0]] + sigma[picks[1]])) < 1e-15)
        }
    }

    @Test("K = E leaves nothing out: margin is infinite")
    func allExperts() throws {
        let decision = try route([[0.1, 0.2, 0.3]], try makeConfig(experts: 3, topK: 3))
        #expect(decision.margin == [.infinity] && decision.expertIndex == [2, 1, 0])
    }

    @Test("capacity keeps the first assignments in token order")
    func capacity() throws {
        let config = try makeConfig(router: .softmaxTopK(renormalize: false), experts: 2, topK: 1, capacity: 1)
        let decision = try route([[2, 0], [3, 0], [1, 0], [0, 1], [5, 0]], config)
        // capacity = ceil(5·1·1 / 2) = 3: expert 0 keeps tokens 0, 1, 2 and drops token 4.
        #expect(decision.expertIndex == [0, 0, 0, 1, -1])
        #expect(decision.scores[4] == 0 && decision.scores[0] > 0)
        #expect(decision.selected == [0, 0, 0, 1, 0])
    }

    @Test("token rounding makes counts multiples of the tile", arguments: TokenRounding.Mode.allCases)
    func rounding(_ mode: TokenRounding.Mode) throws {
        let config = try makeConfig(experts: 5, topK: 2, rounding: TokenRounding(tile: 4, mode: mode))
        var g = SeededGenerator(seed: 12)
        let z = (0..<40).map { _ in (0..<5).map { _ in g.nextNormal() } }
        let decision = try route(z, config)
        let unrounded = try route(z, try makeConfig(experts: 5, topK: 2))
        #expect(decision.counts.allSatisfy { $0 % 4 == 0 })
        #expect(decision.counts != unrounded.counts)
        for t in 0..<40 {
            let row = decision.expertIndex[(t * decision.slots)..<((t + 1) * decision.slots)].filter { $0 >= 0 }
            #expect(Set(row).count == row.count, "token \(t) holds an expert twice")
            let picks = unrounded.expertIndex[(t * 2)..<(t * 2 + 2)]
            switch mode {
            case .up: #expect(picks.allSatisfy(row.contains), "up-rounding must keep every pick")
            case .down: #expect(row.allSatisfy(picks.contains) && decision.slots == 2)
            case .nearest: break
            }
        }
        let total = decision.counts.reduce(0, +), before = unrounded.counts.reduce(0, +)
        if mode == .up { #expect(total > before) }
        if mode == .down { #expect(total < before) }
    }

    @Test("down-rounding drops an expert's lowest-score picks")
    func roundingDropsLowest() throws {
        let config = try makeConfig(router: .softmaxTopK(renormalize: false), experts: 2, topK: 1,
                                    rounding: TokenRounding(tile: 2, mode: .down))
        let decision = try route([[1, 0], [3, 0], [2, 0], [0, 1]], config)
        // Expert 0 holds tokens 0, 1, 2 (scores rise with the logit gap): token 0 has the lowest score.
        // Expert 1 holds one token and rounds to zero.
        #expect(decision.expertIndex == [-1, 0, 0, -1])
    }

    @Test("up-rounding adds the highest-score tokens in extra slots")
    func roundingAddsHighest() throws {
        let config = try makeConfig(router: .softmaxTopK(renormalize: false), experts: 2, topK: 1,
                                    rounding: TokenRounding(tile: 2, mode: .up))
        let decision = try route([[1, 0], [3, 0], [2, 0], [0, 1]], config)
        // Expert 0 has 3 → 4: adds token 3. Expert 1 has 1 → 2: adds the token with the highest p₁, token 0.
        #expect(decision.slots == 2)
        #expect(decision.expertIndex == [0, 1, 0, -1, 0, -1, 1, 0])
        #expect(abs(decision.scores[7] - 1 / (1 + exp(1))) < 1e-15)
    }

    @Test("the override fixes the choice and scores follow the router's formula")
    func override() throws {
        let z = [0.5, -1, 2, 0.25]
        let config = try makeConfig(router: .mixtral, experts: 4, topK: 2)
        let decision = try route([z], config, override: [1, 3])
        #expect(decision.expertIndex == [1, 3])
        #expect(abs(decision.scores[0] - exp(-1) / (exp(-1) + exp(0.25))) < 1e-15)
        #expect(decision.margin[0] == 0.25)
        for bad: [Int32] in [[1, 1], [0, 4], [0, -1], [0]] {
            #expect(throws: SwitchyardError.self) { try route([z], config, override: bad) }
        }
    }

    @Test("losses by hand: uniform router gives aux = 1 and z = (log E)²")
    func lossValues() throws {
        for kind in [RouterKind.softmaxTopK(renormalize: true), .sigmoidBias(groups: 1, topKGroups: 1, scaling: 1)] {
            let config = try makeConfig(router: kind, experts: 4, topK: 2)
            let z = try logits([[Double]](repeating: [0, 0, 0, 0], count: 3))
            let decision = try Router.route(logits: z, bias: Tensor(zeros: [4]), config: config)
            let losses = Router.losses(logits: z, decision: decision, config: config)
            #expect(abs(losses.aux - 1) < 1e-15)
            #expect(abs(losses.z - log(4.0) * log(4.0)) < 1e-14)
        }
    }

    @Test("bias update moves overloaded experts down and underloaded ones up")
    func biasUpdate() throws {
        var bias = try Tensor<Double>(shape: [3], scalars: [0.5, 0.5, 0.5])
        try updateRouterBias(&bias, counts: [10, 2, 6], rate: 0.01)
        #expect(bias.scalars == [0.49, 0.51, 0.5])
        #expect(throws: SwitchyardError.self) { try updateRouterBias(&bias, counts: [1, 2], rate: 0.01) }
        #expect(throws: SwitchyardError.self) { try updateRouterBias(&bias, counts: [1, 2, 3], rate: -1) }
    }
}

extension TokenRounding.Mode: CustomTestStringConvertible {
    public var testDescription: String { rawValue }
}
