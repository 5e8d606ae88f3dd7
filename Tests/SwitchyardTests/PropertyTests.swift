import Testing
@testable import Switchyard

@Suite("Layer properties")
struct PropertyTests {
    @Test("permuting tokens permutes O and dX")
    func tokenPermutation() throws {
        let config = try makeConfig(router: .sigmoidBias(groups: 2, topKGroups: 1, scaling: 2.5), shared: 1, aux: 0.5, z: 0.5)
        let c = Case(config: config, tokens: 8, seed: 21)
        let order = [5, 2, 7, 0, 3, 1, 6, 4]
        let d = config.hidden
        func permuted(_ t: Tensor<Double>) -> Tensor<Double> {
            try! Tensor(shape: t.shape, scalars: order.flatMap { t.scalars[($0 * d)..<(($0 + 1) * d)] })
        }
        let forward = try ReferenceLayer.forward(c.x, weights: c.weights)
        let gradients = try ReferenceLayer.backward(c.dO, input: c.x, weights: c.weights, forward: forward)
        let x = permuted(c.x), dO = permuted(c.dO)
        let forwardP = try ReferenceLayer.forward(x, weights: c.weights)
        let gradientsP = try ReferenceLayer.backward(dO, input: x, weights: c.weights, forward: forwardP)
        #expect(forwardP.output == permuted(forward.output))
        #expect(relativeError(gradientsP.input.scalars, permuted(gradients.input).scalars) < 1e-14)
        #expect(relativeError(gradientsP.w1.scalars, gradients.w1.scalars) < 1e-13)
    }

    @Test("permuting experts together with their weights leaves O unchanged")
    func expertPermutation() throws {
        let config = try makeConfig(router: .softmaxTopK(renormalize: true), experts: 5, topK: 2)
        let c = Case(config: config, tokens: 9, seed: 5)
        let order = [3, 0, 4, 1, 2]
        let d = config.hidden, up = config.upColumns, n = config.intermediate, E = 5
        var w = c.weights
        for (new, old) in order.enumerated() {
            for i in 0..<d { w.router.scalars[i * E + new] = c.weights.router.scalars[i * E + old] }
            w.w1.scalars.replaceSubrange((new * d * up)..<((new + 1) * d * up),
                                         with: c.weights.w1.scalars[(old * d * up)..<((old + 1) * d * up)])
            w.w2.scalars.replaceSubrange((new * n * d)..<((new + 1) * n * d),
                                         with: c.weights.w2.scalars[(old * n * d)..<((old + 1) * n * d)])
        }
        let a = try ReferenceLayer.forward(c.x, weights: c.weights)
        let b = try ReferenceLayer.forward(c.x, weights: w)
        #expect(relativeError(b.output.scalars, a.output.scalars) < 1e-14)
        #expect(a.plan != b.plan)
    }

    @Test("Float agrees with Double")
    func floatVersusDouble() throws {
        let config = try makeConfig(router: .mixtral, hidden: 48, intermediate: 24, experts: 8, topK: 2, shared: 1, aux: 0.1)
        let c = Case(config: config, tokens: 40, seed: 9)
        let f64 = try ReferenceLayer.forward(c.x, weights: c.weights)
        let g64 = try ReferenceLayer.backward(c.dO, input: c.x, weights: c.weights, forward: f64)
        let x = c.x.converted(to: Float.self), w = c.weights.converted(to: Float.self)
        let f32 = try ReferenceLayer.forward(x, weights: w)
        try #require(f32.plan == f64.plan, "routing must agree for a like-for-like comparison")
        let g32 = try ReferenceLayer.backward(c.dO.converted(to: Float.self), input: x, weights: w, forward: f32)
        #expect(relativeError(f32.output.scalars, f64.output.scalars) < 1e-5)
        for (name, a, b) in [("dX", g32.input, g64.input), ("dWr", g32.router, g64.router), ("dW1", g32.w1, g64.w1),
                             ("dW2", g32.w2, g64.w2), ("dW1s", g32.sharedW1, g64.sharedW1)] {
            #expect(relativeError(a.scalars, b.scalars) < 1e-5, "\(name)")
        }
    }

    @Test("same bytes on every run and for 1, 2 and 3 threads")
    func determinism() throws {
        // Large enough for several GEMM jobs per expert and several KC blocks of the reduction.
        let config = try makeConfig(hidden: 300, intermediate: 16, experts: 3, topK: 2, shared: 1, aux: 0.1)
        let c = Case(config: config, tokens: 400, seed: 13)
        let x = c.x.converted(to: Float.self), w = c.weights.converted(to: Float.self)
        let dO = c.dO.converted(to: Float.self)
        var results: [(Tensor<Float>, LayerGradients<Float>)] = []
        for threads in [1, 2, 2, 3] {
            let f = try ReferenceLayer.forward(x, weights: w, threads: threads)
            let g = try ReferenceLayer.backward(dO, input: x, weights: w, forward: f, threads: threads)
            results.append((f.output, g))
        }
        #expect(results[0].0.count == 400 * 300)
        for (output, g) in results.dropFirst() {
            #expect(output == results[0].0)
            #expect(g.input == results[0].1.input && g.w1 == results[0].1.w1 && g.w2 == results[0].1.w2)
            #expect(g.router == results[0].1.router && g.sharedW1 == results[0].1.sharedW1)
        }
    }

    @Test("the CPU backend is the Float reference")
    func cpuBackend() throws {
        let config = try makeConfig(experts: 4, topK: 2)
        let c = Case(config: config, tokens: 6, seed: 3)
        let x = c.x.converted(to: Float.self), w = c.weights.converted(to: Float.self)
        let backend = CPUBackend(threads: 2, storage: .bfloat16)
        #expect(backend.device == .cpu && backend.description.contains("2 threads"))
        let forward = try backend.forward(x, weights: w)
        #expect(forward.output == (try ReferenceLayer.forward(x, weights: w, storage: .bfloat16)).output)
        let gradients = try backend.backward(c.dO.converted(), input: x, weights: w, forward: forward)
        #expect(gradients.input.shape == x.shape && gradients.input.scalars.contains { $0 != 0 })
    }
}

@Suite("Routing plan")
struct RoutingPlanTests {
    @Test("counts, offsets, stability and the inverse map")
    func invariants() throws {
        let config = try makeConfig(experts: 7, topK: 3, capacity: 0.8)
        let c = Case(config: config, tokens: 30, seed: 17)
        let plan = try ReferenceLayer.forward(c.x, weights: c.weights).plan
        #expect(plan.expertIndex.contains(-1))
        #expect(Int(plan.counts.reduce(0, +)) == plan.rows && plan.rows == plan.expertIndex.filter { $0 >= 0 }.count)
        #expect(plan.offsets.first == 0)
        for e in 0..<7 {
            #expect(plan.offsets[e + 1] - plan.offsets[e] == plan.counts[e])
            let positions = Int(plan.offsets[e])..<Int(plan.offsets[e + 1])
            let assignments = positions.map { plan.assignmentOfPosition[$0] }
            #expect(assignments == assignments.sorted(), "expert \(e) is not in assignment order")
            #expect(assignments.allSatisfy { plan.expertIndex[Int($0)] == Int32(e) })
        }
        for p in 0..<plan.rows {
            let a = Int(plan.assignmentOfPosition[p])
            #expect(plan.positionOfAssignment[a] == Int32(p) && plan.gatherIndex[p] == Int32(a / 3))
        }
        for a in plan.expertIndex.indices where plan.expertIndex[a] < 0 { #expect(plan.positionOfAssignment[a] == -1) }
    }

    @Test("an out-of-range expert throws")
    func outOfRange() {
        #expect(throws: SwitchyardError.self) { try RoutingPlan(tokens: 1, experts: 2, topK: 1, expertIndex: [2]) }
        #expect(throws: SwitchyardError.self) { try RoutingPlan(tokens: 2, experts: 2, topK: 1, expertIndex: [0]) }
    }
}
