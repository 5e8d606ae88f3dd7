import Testing
@testable import Switchyard

@Suite("Forward pass")
struct ForwardTests {
    static let routers = GradientCheckTests.routers

    @Test("matches a direct per-token float64 evaluation", arguments: routers)
    func matchesNaive(_ router: RouterKind) throws {
        for activation in Activation.allCases {
            let config = try makeConfig(router: router, activation: activation, experts: 6, topK: 3, shared: 1)
            let c = Case(config: config, tokens: 9, seed: 11)
            let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
            let expected = NaiveLayer(weights: c.weights).output(c.x)
            #expect(relativeError(forward.output.scalars, expected) < 1e-13, "\(activation)")
        }
    }

    @Test("dS = ⟨dA′, A⟩ equals ⟨dO, Y⟩ computed from Y")
    func scoreGradientIdentity() throws {
        let config = try makeConfig(router: .sigmoidBias(groups: 2, topKGroups: 1, scaling: 2.5), experts: 6, topK: 2)
        let c = Case(config: config, tokens: 7, seed: 4)
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        let gradients = try ReferenceLayer.backward(c.dO, input: c.x, weights: c.weights, forward: forward)
        let naive = NaiveLayer(weights: c.weights)
        let d = config.hidden, K = config.topK
        var expected: [Double] = []
        for t in 0..<7 {
            let row = Array(c.x.scalars[(t * d)..<((t + 1) * d)])
            for k in 0..<K {
                let y = naive.expertOutput(row, expert: Int(forward.plan.expertIndex[t * K + k]))
                expected.append((0..<d).reduce(0) { $0 + c.dO.scalars[t * d + $1] * y[$1] })
            }
        }
        #expect(relativeError(gradients.scores.scalars, expected) < 1e-13)
    }

    @Test("T = 0 runs forward and backward")
    func noTokens() throws {
        let config = try makeConfig(shared: 1, aux: 0.1, z: 0.1)
        let weights = MoEWeights<Double>.random(config: config, seed: 1)
        let x = Tensor<Double>(zeros: [0, config.hidden])
        let forward = try ReferenceLayer.forward(x, weights: weights)
        #expect(forward.output.shape == [0, config.hidden])
        #expect(forward.plan.rows == 0 && forward.auxLoss == 0 && forward.zLoss == 0)
        let gradients = try ReferenceLayer.backward(x, input: x, weights: weights, forward: forward)
        #expect(gradients.w1.scalars.allSatisfy { $0 == 0 } && gradients.input.shape == [0, config.hidden])
    }

    @Test("empty experts get no rows and zero weight gradients")
    func emptyExperts() throws {
        let config = try makeConfig(experts: 6, topK: 2)
        var c = Case(config: config, tokens: 8, seed: 2)
        for i in 0..<config.hidden { c.weights.router.scalars[i * 6 + 4] = 0 }
        for t in 0..<8 { c.x.scalars[t * config.hidden] = 1 }
        c.weights.router.scalars[4] = -50
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        #expect(forward.plan.counts[4] == 0)
        let gradients = try ReferenceLayer.backward(c.dO, input: c.x, weights: c.weights, forward: forward)
        let d = config.hidden, up = config.upColumns, n = config.intermediate
        #expect(gradients.w1.scalars[(4 * d * up)..<(5 * d * up)].allSatisfy { $0 == 0 })
        #expect(gradients.w2.scalars[(4 * n * d)..<(5 * n * d)].allSatisfy { $0 == 0 })
        #expect(relativeError(forward.output.scalars, NaiveLayer(weights: c.weights).output(c.x)) < 1e-13)
    }

    @Test("all tokens on one expert")
    func allOnOne() throws {
        let config = try makeConfig(router: .sigmoidBias(groups: 1, topKGroups: 1, scaling: 1), experts: 4, topK: 1)
        var c = Case(config: config, tokens: 10, seed: 8)
        c.weights.routerBias.scalars = [0, 0, 5, 0]
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        #expect(forward.plan.counts == [0, 0, 10, 0])
        #expect(forward.scores.scalars.allSatisfy { $0 == 1 })
        #expect(relativeError(forward.output.scalars, NaiveLayer(weights: c.weights).output(c.x)) < 1e-13)
    }

    @Test("bf16 storage rounds H and O to bf16 and stays near fp32")
    func bfloat16Storage() throws {
        let config = try makeConfig(hidden: 32, intermediate: 16, experts: 4, topK: 2)
        let c = Case(config: config, tokens: 20, seed: 6)
        let x = c.x.converted(to: Float.self), weights = c.weights.converted(to: Float.self)
        let exact = try ReferenceLayer.forward(x, weights: weights)
        let stored = try ReferenceLayer.forward(x, weights: weights, storage: .bfloat16)
        func isBFloat16(_ v: Float) -> Bool { v.bitPattern & 0xFFFF == 0 }
        #expect(stored.hidden.scalars.allSatisfy(isBFloat16) && stored.output.scalars.allSatisfy(isBFloat16))
        #expect(!exact.output.scalars.allSatisfy(isBFloat16))
        let error = relativeError(stored.output.scalars, exact.output.scalars)
        #expect(error < 1e-2 && error > 0)
    }

    @Test("bf16 storage in backward stays near the fp32 gradients")
    func bfloat16Backward() throws {
        let config = try makeConfig(hidden: 32, intermediate: 16, experts: 4, topK: 2, shared: 1)
        let c = Case(config: config, tokens: 20, seed: 6)
        let x = c.x.converted(to: Float.self), weights = c.weights.converted(to: Float.self)
        let dO = c.dO.converted(to: Float.self)
        let exact = try ReferenceLayer.backward(
            dO, input: x, weights: weights, forward: try ReferenceLayer.forward(x, weights: weights))
        let stored = try ReferenceLayer.backward(
            dO, input: x, weights: weights, forward: try ReferenceLayer.forward(x, weights: weights, storage: .bfloat16),
            storage: .bfloat16)
        for (name, a, b) in [("dX", stored.input, exact.input), ("dW1", stored.w1, exact.w1),
                             ("dW2", stored.w2, exact.w2), ("dWr", stored.router, exact.router)] {
            let error = relativeError(a.scalars, b.scalars)
            #expect(error < 2e-2 && error > 0, "\(name) relative error \(error)")
        }
    }
}
