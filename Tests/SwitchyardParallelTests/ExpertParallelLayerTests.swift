import Switchyard
import Testing

@testable import SwitchyardParallel

/// EP over R in-process ranks against the single-device reference layer on the concatenation of every rank's
/// tokens, in Double: same routing, outputs and gradients equal up to summation order.
@Suite struct ExpertParallelLayerTests {
    struct Case: Sendable, CustomStringConvertible {
        var tokensPerRank: [Int]
        var skewed = false
        var replicated = false
        var chunks = 1
        var description: String {
            "R=\(tokensPerRank.count) T=\(tokensPerRank)\(skewed ? " skewed" : "")\(replicated ? " replicated" : "")"
                + (chunks > 1 ? " chunks=\(chunks)" : "")
        }
    }

    static let cases: [Case] = [
        Case(tokensPerRank: [29]),
        Case(tokensPerRank: [17, 12]),
        Case(tokensPerRank: [13, 0, 20, 7]),
        Case(tokensPerRank: [5, 0, 9, 3, 0, 12, 6, 4]),
        Case(tokensPerRank: [11, 9, 0, 14], skewed: true),
        Case(tokensPerRank: [6, 8, 10, 0, 7, 5, 9, 3], skewed: true),
        Case(tokensPerRank: [10, 7, 12, 6], replicated: true),
        Case(tokensPerRank: [9, 14], chunks: 3),
    ]

    static func config(skewed: Bool) throws -> MoEConfig {
        // The skewed layer uses DeepSeek's sigmoid router with a large bias on experts 0, 1 and 2: every token
        // picks them (K = 3), so the ranks that hold no bias-favoured expert receive nothing.
        let router = skewed ? RouterConfig(kind: .sigmoidBias(groups: 1, topKGroups: 1, scaling: 2.5)) : RouterConfig()
        return try MoEConfig(hidden: 24, intermediate: 8, experts: 8, topK: 3, router: router)
    }

    static func weights(_ config: MoEConfig, skewed: Bool) -> MoEWeights<Double> {
        var weights = MoEWeights<Double>.random(config: config, seed: 7)
        if skewed {
            for e in 0..<config.experts { weights.routerBias.scalars[e] = e < 3 ? 10 : 0 }
        }
        return weights
    }

    @Test(arguments: cases)
    func matchesTheSingleDeviceLayer(_ testCase: Case) throws {
        let config = try Self.config(skewed: testCase.skewed)
        let weights = Self.weights(config, skewed: testCase.skewed)
        let ranks = testCase.tokensPerRank.count, total = testCase.tokensPerRank.reduce(0, +), d = config.hidden
        var generator = SeededGenerator(seed: 99)
        let x = Tensor<Double>.randomNormal(shape: [total, d], generator: &generator)
        let dO = Tensor<Double>.randomNormal(shape: [total, d], generator: &generator)
        let single = try ReferenceLayer.forward(x, weights: weights, threads: 1)
        let singleGradients = try ReferenceLayer.backward(dO, input: x, weights: weights, forward: single, threads: 1)

        let placement = testCase.replicated
            ? try ExpertPlacement.replicated(loads: [400, 10, 60, 60, 20, 90, 10, 30], ranks: ranks, slotsPerRank: 3)
            : try ExpertPlacement.contiguous(experts: config.experts, ranks: ranks)
        let starts = testCase.tokensPerRank.indices.map { testCase.tokensPerRank[..<$0].reduce(0, +) }
        @Sendable func rows(_ tensor: Tensor<Double>, _ r: Int) -> Tensor<Double> {
            let range = (starts[r] * d)..<((starts[r] + testCase.tokensPerRank[r]) * d)
            return try! Tensor(shape: [testCase.tokensPerRank[r], d], scalars: Array(tensor.scalars[range]))
        }
        let group = try InProcessGroup(size: ranks)
        let results = try group.run { comm in
            let layer = try ExpertParallelLayer(
                weights: weights, placement: placement, rank: comm.rank, options: .init(chunks: testCase.chunks))
            let forward = try layer.forward(rows(x, comm.rank), communicator: comm)
            let gradients = try layer.backward(rows(dO, comm.rank), input: rows(x, comm.rank), forward: forward, communicator: comm)
            let experts = try layer.expertGradients(gradients, communicator: comm)
            return (forward, gradients, experts)
        }
        let output = results.flatMap { $0.0.output.scalars }
        let expertIndex = results.flatMap { $0.0.decision.expertIndex }
        #expect(expertIndex == single.plan.expertIndex, "routing must be identical")
        #expect(relativeError(output, single.output.scalars) <= 1e-12)
        if ranks == 1, !testCase.replicated { #expect(output == single.output.scalars, "R = 1 sums in the same order") }
        #expect(relativeError(results.flatMap { $0.1.input.scalars }, singleGradients.input.scalars) <= 1e-12)
        #expect(relativeError(results.flatMap { $0.1.scores.scalars }, singleGradients.scores.scalars) <= 1e-12)
        for (_, gradients, experts) in results {
            #expect(relativeError(gradients.router.scalars, singleGradients.router.scalars) <= 1e-12)
            #expect(relativeError(experts.w1.scalars, singleGradients.w1.scalars) <= 1e-12)
            #expect(relativeError(experts.w2.scalars, singleGradients.w2.scalars) <= 1e-12)
        }
        if testCase.skewed {
            // Experts 3..7 saw no token: the last rank received nothing and their gradients are exactly zero.
            let w1Size = d * config.upColumns
            #expect(results[ranks - 1].0.chunks.allSatisfy { $0.receivedRows == 0 })
            #expect(results[0].2.w1.scalars[(3 * w1Size)...].allSatisfy { $0 == 0 })
        }
    }

    @Test func chunkingDoesNotChangeTheOutput() throws {
        let config = try Self.config(skewed: false)
        let weights = Self.weights(config, skewed: false)
        var generator = SeededGenerator(seed: 3)
        let x = (0..<2).map { _ in Tensor<Double>.randomNormal(shape: [15, config.hidden], generator: &generator) }
        let placement = try ExpertPlacement.contiguous(experts: 8, ranks: 2)
        func outputs(chunks: Int) throws -> [[Double]] {
            try InProcessGroup(size: 2).run { comm in
                let layer = try ExpertParallelLayer(weights: weights, placement: placement, rank: comm.rank, options: .init(chunks: chunks))
                return try layer.forward(x[comm.rank], communicator: comm).output.scalars
            }
        }
        #expect(try outputs(chunks: 4) == outputs(chunks: 1), "per-token partial sums do not depend on the chunks")
    }

    @Test func fp8DispatchStaysWithinFP8Accuracy() throws {
        // Float layer, d = 256 (two 128-wide scale blocks per row); FP8 E4M3 dispatch with bf16 combine against
        // the same EP layer with fp32 traffic. E4M3 keeps 3 mantissa bits: relative error ~2^-5 per element.
        let config = try MoEConfig(hidden: 256, intermediate: 32, experts: 8, topK: 2)
        let weights = MoEWeights<Float>.random(config: config, seed: 11)
        var generator = SeededGenerator(seed: 5)
        let x = (0..<4).map { _ in Tensor<Float>.randomNormal(shape: [16, config.hidden], generator: &generator) }
        let placement = try ExpertPlacement.contiguous(experts: 8, ranks: 4)
        func outputs(_ format: ExpertParallelOptions.DispatchFormat) throws -> [Float] {
            try InProcessGroup(size: 4).run { comm in
                let layer = try ExpertParallelLayer(
                    weights: weights, placement: placement, rank: comm.rank, options: .init(dispatchFormat: format))
                return try layer.forward(x[comm.rank], communicator: comm).output.scalars
            }.flatMap { $0 }
        }
        let native = try outputs(.native), fp8 = try outputs(.fp8)
        let error = relativeError(fp8, native)
        #expect(error > 1e-4, "FP8 traffic must actually be quantized")
        #expect(error < 5e-2)
        print("FP8 E4M3 (1×128) dispatch + bf16 combine: relative error of O vs fp32 traffic = \(error)")
    }

    @Test func rejectsWhatExpertParallelismCannotDoYet() throws {
        let capacity = try MoEConfig(
            hidden: 8, intermediate: 4, experts: 4, topK: 2, router: RouterConfig(capacityFactor: 1.25))
        let placement = try ExpertPlacement.contiguous(experts: 4, ranks: 2)
        #expect(throws: SwitchyardError.self) {
            try ExpertParallelLayer(weights: MoEWeights<Double>.random(config: capacity, seed: 1), placement: placement, rank: 0)
        }
        let plain = try MoEConfig(hidden: 8, intermediate: 4, experts: 4, topK: 2)
        #expect(throws: SwitchyardError.self) {
            try ExpertParallelLayer(weights: MoEWeights<Double>.random(config: plain, seed: 1), placement: placement, rank: 2)
        }
    }
}
