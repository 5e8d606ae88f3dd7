import Testing
@testable import Switchyard

/// Backward against central differences of the float64 forward, for every router, activation and loss.
@Suite("Gradients match finite differences")
struct GradientCheckTests {
    static let routers: [RouterKind] = [
        .softmaxTopK(renormalize: false), .softmaxTopK(renormalize: true), .mixtral,
        .sigmoidBias(groups: 3, topKGroups: 2, scaling: 2.5),
    ]

    func check(_ config: MoEConfig, tokens: Int = 5, seed: UInt64 = 7) throws {
        let c = Case(config: config, tokens: tokens, seed: seed)
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        try #require(smallestMargin(forward) > 1e-3, "inputs must have clear top-K margins")
        let gradients = try ReferenceLayer.backward(c.dO, input: c.x, weights: c.weights, forward: forward)
        var checks: [(String, WritableKeyPath<Case, Tensor<Double>>, Tensor<Double>)] = [
            ("dX", \.x, gradients.input), ("dWr", \.router, gradients.router), ("dW1", \.w1, gradients.w1),
            ("dW2", \.w2, gradients.w2),
        ]
        if config.sharedExperts > 0 {
            checks += [("dW1s", \.sharedW1, gradients.sharedW1), ("dW2s", \.sharedW2, gradients.sharedW2)]
        }
        for (name, path, analytic) in checks {
            let pair = try #require(try finiteDifference(c, path, analytic: analytic), "\(name): routing flipped")
            let error = relativeError(pair.analytic, pair.numeric)
            #expect(error < 1e-6, "\(name) relative error \(error)")
            #expect(pair.numeric.contains { $0 != 0 }, "\(name): the check saw only zero derivatives")
        }
    }

    @Test("every router", arguments: routers)
    func everyRouter(_ router: RouterKind) throws {
        try check(makeConfig(router: router))
    }

    @Test("every activation", arguments: Activation.allCases)
    func everyActivation(_ activation: Activation) throws {
        try check(makeConfig(activation: activation, experts: 4, topK: 2))
    }

    @Test("aux and z losses", arguments: routers)
    func auxAndZLosses(_ router: RouterKind) throws {
        try check(makeConfig(router: router, aux: 0.7, z: 0.3))
    }

    @Test("shared experts")
    func sharedExperts() throws {
        try check(makeConfig(router: .mixtral, activation: .geglu, shared: 2))
    }

    @Test("capacity dropping keeps the normalizer of dropped picks")
    func capacity() throws {
        let config = try makeConfig(experts: 4, topK: 2, capacity: 0.5)
        let c = Case(config: config, tokens: 6, seed: 3)
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        try #require(forward.plan.expertIndex.contains(-1), "the case must drop something")
        try check(config, tokens: 6, seed: 3)
    }

    @Test("token rounding up adds extra slots that still differentiate")
    func roundingUp() throws {
        let config = try makeConfig(router: .sigmoidBias(groups: 1, topKGroups: 1, scaling: 1.5), experts: 4, topK: 1,
                                    rounding: TokenRounding(tile: 3, mode: .up))
        let c = Case(config: config, tokens: 7, seed: 5)
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        try #require(forward.plan.topK > 1, "the case must add extra slots")
        try check(config, tokens: 7, seed: 5)
    }
}

extension RouterKind: CustomTestStringConvertible {
    public var testDescription: String {
        switch self {
        case .softmaxTopK(let renormalize): renormalize ? "softmax-renorm" : "softmax"
        case .mixtral: "mixtral"
        case .sigmoidBias(let groups, let topKGroups, _): "sigmoid-bias g\(groups)/\(topKGroups)"
        }
    }
}
