import Testing
@testable import Switchyard

@Suite("Training: AdamW, the MSE loss, teacher–student steps")
struct TrainingTests {
    @Test("AdamW matches a hand-computed two-step case (bias corrections, decoupled decay)")
    func adamWHandComputed() throws {
        let optimizer = try AdamW(learningRate: 0.1, weightDecay: 0.01)
        var parameters: [Float] = [1, -2]
        var moments = AdamWMoments(count: 2)
        optimizer.update(&parameters, gradient: [0.5, -0.1], moments: &moments, step: 1)
        // Step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g², so the step is lr·(λ·p + g/(|g| + ε)).
        let p1 = 1 - 0.1 * (0.01 * 1 + 0.5 / (0.5 + 1e-8))
        let q1 = -2 - 0.1 * (0.01 * -2 + -0.1 / (0.1 + 1e-8))
        #expect(close(parameters[0], p1) && close(parameters[1], q1))
        #expect(close(moments.first[0], 0.05) && close(moments.second[0], 0.00025))

        optimizer.update(&parameters, gradient: [-0.5, -0.1], moments: &moments, step: 2)
        // Step 2, first weight: m = 0.9·0.05 − 0.1·0.5 = −0.005, v = 0.999·0.00025 + 0.001·0.25 = 0.00049975;
        // m̂ = m / (1 − 0.81), v̂ = v / (1 − 0.998001) = 0.25.
        let mHat = -0.005 / 0.19, vHat = 0.00049975 / 0.001999
        let p2 = p1 - 0.1 * (0.01 * p1 + mHat / (vHat.squareRoot() + 1e-8))
        // Second weight: the same gradient twice gives m̂ = g and v̂ = g² exactly.
        let q2 = q1 - 0.1 * (0.01 * q1 + -0.1 / (0.1 + 1e-8))
        #expect(close(parameters[0], p2) && close(parameters[1], q2))
    }

    /// Float math against the Double hand computation: a relative error that fits fp32 (a few ulps per operation).
    private func close(_ value: Float, _ expected: Double) -> Bool {
        abs(Double(value) - expected) <= 1e-6 * abs(expected)
    }

    @Test("AdamW rejects bad hyperparameters with a clear error")
    func adamWValidation() {
        #expect(throws: SwitchyardError.self) { try AdamW(learningRate: 0) }
        #expect(throws: SwitchyardError.self) { try AdamW(learningRate: 1e-3, beta1: 1) }
        #expect(throws: SwitchyardError.self) { try AdamW(learningRate: 1e-3, epsilon: 0) }
        #expect(throws: SwitchyardError.self) { try AdamW(learningRate: 1e-3, weightDecay: -1) }
    }

    @Test("mean squared error and its gradient on a hand case")
    func meanSquaredErrorHandCase() throws {
        let output = try HostTensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        let target = try HostTensor(shape: [2, 2], scalars: [0, 2, 5, 3])
        let (loss, gradient) = meanSquaredError(output, target: target)
        #expect(abs(loss - (1 + 0 + 4 + 1) / 4.0) < 1e-12)
        #expect(gradient.scalars == [0.5, 0, -1, 0.5])  // 2·diff / 4
    }

    static func tinyConfig(_ kind: RouterKind) throws -> MoEConfig {
        try MoEConfig(hidden: 16, intermediate: 8, experts: 4, topK: 2, router: RouterConfig(kind: kind, biasUpdateRate: 1e-3))
    }

    @Test("the sigmoid-bias router's bias moves against the step's load: overloaded down, underloaded up")
    func biasUpdateSign() throws {
        let config = try Self.tinyConfig(.sigmoidBias(groups: 1, topKGroups: 1, scaling: 1))
        var run = try TeacherStudent(config: config, tokens: 37, optimizer: try AdamW(learningRate: 1e-3), threads: 1)
        let before = run.student.routerBias.scalars
        let step = try run.step()
        let total = step.counts.reduce(0) { $0 + Int($1) }
        #expect(total == 37 * 2)
        #expect(Set(step.counts).count > 1, "a load imbalance to act on")
        for e in 0..<config.experts {
            let change = Double(run.student.routerBias.scalars[e] - before[e])
            let scaled = Int(step.counts[e]) * config.experts
            let expected = scaled > total ? -1e-3 : (scaled < total ? 1e-3 : 0)
            #expect(abs(change - expected) < 1e-7, "expert \(e): load \(step.counts[e]) of \(total)")
        }
    }

    @Test("a softmax router's bias stays untouched", arguments: [RouterKind.softmaxTopK(renormalize: true), .mixtral])
    func noBiasUpdateWithoutSigmoidRouter(kind: RouterKind) throws {
        var run = try TeacherStudent(config: try Self.tinyConfig(kind), tokens: 16,
                                     optimizer: try AdamW(learningRate: 1e-3), threads: 1)
        _ = try run.step()
        #expect(run.student.routerBias.scalars.allSatisfy { $0 == 0 })
    }

    @Test("a short teacher–student run on a tiny layer reduces the loss by a clear factor")
    func shortRunLearns() throws {
        let config = try Self.tinyConfig(.sigmoidBias(groups: 1, topKGroups: 1, scaling: 1))
        var run = try TeacherStudent(config: config, tokens: 128, optimizer: try AdamW(learningRate: 1e-2), threads: 1)
        var losses: [Double] = []
        for _ in 0..<150 { losses.append(try run.step().loss) }
        let first = losses[0], last = losses.suffix(10).reduce(0, +) / 10
        #expect(losses.allSatisfy { $0.isFinite })
        #expect(last < first / 3, "loss \(first) → \(last)")
        // The same seeds give the same run.
        var again = try TeacherStudent(config: config, tokens: 128, optimizer: try AdamW(learningRate: 1e-2), threads: 1)
        #expect(try again.step().loss == first)
    }
}
