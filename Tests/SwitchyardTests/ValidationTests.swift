import Testing
@testable import Switchyard

@Suite("Bad input throws, never crashes")
struct ValidationTests {
    @Test("invalid configurations")
    func configurations() {
        #expect(throws: SwitchyardError.self) { try makeConfig(experts: 2, topK: 3) }
        #expect(throws: SwitchyardError.self) { try makeConfig(hidden: 0) }
        #expect(throws: SwitchyardError.self) { try makeConfig(intermediate: -1) }
        #expect(throws: SwitchyardError.self) { try makeConfig(topK: 0) }
        #expect(throws: SwitchyardError.self) { try makeConfig(router: .sigmoidBias(groups: 4, topKGroups: 1, scaling: 1)) }
        #expect(throws: SwitchyardError.self) { try makeConfig(router: .sigmoidBias(groups: 3, topKGroups: 4, scaling: 1)) }
        #expect(throws: SwitchyardError.self) { try makeConfig(router: .sigmoidBias(groups: 3, topKGroups: 1, scaling: 1), topK: 3) }
        #expect(throws: SwitchyardError.self) { try makeConfig(capacity: 0) }
        #expect(throws: SwitchyardError.self) { try makeConfig(rounding: TokenRounding(tile: 0)) }
    }

    @Test("a configuration edited after construction is checked again")
    func editedConfiguration() throws {
        var weights = MoEWeights<Double>.random(config: try makeConfig(), seed: 1)
        weights.config.topK = 9
        #expect(throws: SwitchyardError.self) { try ReferenceLayer.forward(Tensor(zeros: [2, 6]), weights: weights) }
    }

    @Test("mismatched shapes, non-finite values and bad arguments")
    func inputs() throws {
        let config = try makeConfig()
        let c = Case(config: config, tokens: 3, seed: 1)
        #expect(throws: SwitchyardError.self) { try ReferenceLayer.forward(Tensor<Double>(zeros: [3, 5]), weights: c.weights) }
        #expect(throws: SwitchyardError.self) { try ReferenceLayer.forward(Tensor<Double>(zeros: [18]), weights: c.weights) }
        #expect(throws: SwitchyardError.self) { try ReferenceLayer.forward(c.x, weights: c.weights, threads: 0) }
        #expect(throws: SwitchyardError.self) {
            try ReferenceLayer.forward(c.x, weights: c.weights, routingOverride: [0, 1, 2])
        }
        for bad in [Double.nan, .infinity, -.infinity] {
            var x = c.x
            x.scalars[4] = bad
            #expect(throws: SwitchyardError.self) { try ReferenceLayer.forward(x, weights: c.weights) }
            var weights = c.weights
            weights.router.scalars[2] = bad
            #expect(throws: SwitchyardError.self) { try ReferenceLayer.forward(c.x, weights: weights) }
        }
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        var dO = c.dO
        dO.scalars[0] = .nan
        #expect(throws: SwitchyardError.self) {
            try ReferenceLayer.backward(dO, input: c.x, weights: c.weights, forward: forward)
        }
        #expect(throws: SwitchyardError.self) {
            try ReferenceLayer.backward(Tensor(zeros: [2, 6]), input: c.x, weights: c.weights, forward: forward)
        }
        let other = Case(config: config, tokens: 4, seed: 2)
        #expect(throws: SwitchyardError.self) {
            try ReferenceLayer.backward(other.dO, input: other.x, weights: c.weights, forward: forward)
        }
        #expect(throws: SwitchyardError.self) {
            try MoEWeights(config: config, router: Tensor<Double>(zeros: [6, 5]), w1: c.weights.w1, w2: c.weights.w2)
        }
        #expect(throws: SwitchyardError.self) { try ReferenceLayer.forward(Tensor<Float16>(zeros: [1, 6]), weights: c.weights.converted(to: Float16.self)) }
    }
}
