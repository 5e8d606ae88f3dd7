extension ReferenceLayer {
    /// Runs the layer backward from dO, the memory-efficient way (MOE.md §1): only X, H and the routing metadata
    /// of `forward` are used; A is recomputed from H and Y is never needed.
    ///
    /// dA′ = dO[gather]·W2[e]ᵀ, dS = ⟨dA′, A⟩, dH = act′(H; s·dA′), dW2[e] = (s·A)ᵀ·dO[gather],
    /// dW1[e] = X[gather]ᵀ·dH, dX = Σ_slots dH·W1[e]ᵀ + shared terms + dZ·Wrᵀ, dZ from dS through the router
    /// (plus the weighted aux and z-loss gradients), dWr = Xᵀ·dZ.
    ///
    /// - Parameters:
    ///   - storage: `.bfloat16` rounds the stored dH and s·A (and the recomputed A) to bf16.
    ///   - threads: worker threads (default: every core); results do not depend on it.
    /// - Returns: the gradients of L = ⟨dO, O⟩ + auxCoef·aux + zCoef·z, and dS [T, slots].
    /// - Throws: ``SwitchyardError`` for mismatched shapes, non-finite dO, or a `forward` that does not belong to
    ///   these inputs.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func backward<S: BinaryFloatingPoint & Sendable>(
        _ dO: Tensor<S>, input x: Tensor<S>, weights: MoEWeights<S>, forward: LayerForward<S>,
        storage: StoragePrecision = .float32, threads: Int? = nil
    ) throws -> LayerGradients<S> {
        let (tokens, threads) = try validate(x, weights: weights, threads: threads)
        let config = weights.config
        let d = config.hidden, n = config.intermediate, up = config.upColumns, E = config.experts
        try dO.requireShape([tokens, d], "output gradient dO")
        try dO.requireFinite("output gradient dO")
        let decision = try routerDecision(of: forward, tokens: tokens, config: config)
        let plan = forward.plan, rows = plan.rows, slots = plan.topK
        try forward.hidden.requireShape([rows, up], "forward H")
        try forward.sharedHidden.requireShape([config.sharedExperts, tokens, config.sharedUpColumns], "forward shared H")

        return try withLayerPointers(x, weights) { w in
            try dO.scalars.withUnsafeBufferPointer { dOBuffer in
                let dOut = address(dOBuffer)
                let routed = routedBackward(
                    w, dO: dOut, forward: forward, config: config, storage: storage, threads: threads)
                let shared = sharedBackward(
                    w, dO: dOut, sharedHidden: forward.sharedHidden, tokens: tokens, config: config,
                    storage: storage, threads: threads)
                var scoreGradient = [Double](repeating: 0, count: tokens * slots)
                for p in 0..<rows { scoreGradient[Int(plan.assignmentOfPosition[p])] = routed.scoreGradient[p] }
                let router = try routerBackward(
                    w, scoreGradient: scoreGradient, forward: forward, decision: decision, config: config,
                    threads: threads)
                // dX[t] = Σ_slots dH·W1ᵀ (unit weights: s is already inside dH) + shared terms, then + dZ·Wrᵀ.
                let inputGradient = combine(
                    routed.input, scores: [S](repeating: 1, count: tokens * slots), plan: plan,
                    shared: shared.input, sharedCount: config.sharedExperts, hidden: d, threads: threads)
                let dX = inputGradient.pointer, dXr = router.input.pointer
                parallelChunks(tokens * d, threads: threads, grain: 1 << 14) { range in
                    for i in range { dX[i] += dXr[i] }
                }
                return LayerGradients(
                    input: inputGradient.tensor([tokens, d]), router: router.weight.tensor([d, E]),
                    w1: routed.w1.tensor([E, d, up]), w2: routed.w2.tensor([E, n, d]),
                    sharedW1: shared.w1.tensor([config.sharedExperts, d, config.sharedUpColumns]),
                    sharedW2: shared.w2.tensor([config.sharedExperts, config.sharedIntermediate, d]),
                    scores: try Tensor(shape: [tokens, slots], scalars: scoreGradient.map { S($0) }))
            }
        }
    }

    /// The routed experts' grouped GEMMs: dA′, the epilogue, dW2, dW1 and each row's input term dH·W1ᵀ
    /// ([rows, d], plan order), plus dS per row.
    static func routedBackward<S: BinaryFloatingPoint & Sendable>(
        _ w: LayerPointers<S>, dO: UnsafePointer<S>, forward: LayerForward<S>, config: MoEConfig,
        storage: StoragePrecision, threads: Int
    ) -> (scoreGradient: [Double], w1: ScratchBuffer<S>, w2: ScratchBuffer<S>, input: ScratchBuffer<S>) {
        let d = config.hidden, n = config.intermediate, up = config.upColumns, E = config.experts
        let plan = forward.plan, rows = plan.rows
        return plan.gatherIndex.withUnsafeBufferPointer { gatherBuffer in
            let g = address(gatherBuffer)
            let hidden = ScratchBuffer<S>(count: rows * up, threads: threads)
            hidden.pointer.update(from: forward.hidden.scalars, count: rows * up)
            let activated = activate(hidden, rows: rows, config: config, storage: storage, threads: threads)
            let activationGradient = ScratchBuffer<S>(count: rows * n, threads: threads)
            groupedGEMM(
                perExpert(
                    plan, m: { Int(plan.counts[$0]) }, n: n, k: { _ in d }, ldc: n,
                    a: { _, first in MatrixOperand(dO, leading: d, rowIndex: g + first) },
                    b: { e, _ in MatrixOperand(w.w2 + e * n * d, leading: d).transposed },
                    c: { _, first in activationGradient.pointer + first * n }), threads: threads)
            let rowScores = (0..<rows).map { p in forward.scores.scalars[Int(plan.assignmentOfPosition[p])] }
            let (scoreGradient, hiddenGradient) = epilogue(
                hidden: hidden, activated: activated, gradient: activationGradient, scores: rowScores,
                rows: rows, activation: config.activation, intermediate: n, storage: storage, threads: threads)
            let dH = UnsafePointer(hiddenGradient.pointer), scaledA = UnsafePointer(activated.pointer)

            let w2 = ScratchBuffer<S>(count: E * n * d, threads: threads)
            let w1 = ScratchBuffer<S>(count: E * d * up, threads: threads)
            let input = ScratchBuffer<S>(count: rows * d, threads: threads)
            let weightProblems =
                perExpert(
                    plan, m: { _ in n }, n: d, k: { Int(plan.counts[$0]) }, ldc: d, includeEmpty: true,
                    a: { _, first in MatrixOperand(scaledA + first * n, leading: n).transposed },
                    b: { _, first in MatrixOperand(dO, leading: d, rowIndex: g + first) },
                    c: { e, _ in w2.pointer + e * n * d })
                + perExpert(
                    plan, m: { _ in d }, n: up, k: { Int(plan.counts[$0]) }, ldc: up, includeEmpty: true,
                    a: { _, first in MatrixOperand(w.x, leading: d, rowIndex: g + first).transposed },
                    b: { _, first in MatrixOperand(dH + first * up, leading: up) },
                    c: { e, _ in w1.pointer + e * d * up })
                + perExpert(
                    plan, m: { Int(plan.counts[$0]) }, n: d, k: { _ in up }, ldc: d,
                    a: { _, first in MatrixOperand(dH + first * up, leading: up) },
                    b: { e, _ in MatrixOperand(w.w1 + e * d * up, leading: up).transposed },
                    c: { _, first in input.pointer + first * d })
            groupedGEMM(weightProblems, threads: threads)
            return (scoreGradient, w1, w2, input)
        }
    }

    /// dZ from dS and the losses, then dWr = Xᵀ·dZ and the input term dZ·Wrᵀ.
    static func routerBackward<S: BinaryFloatingPoint & Sendable>(
        _ w: LayerPointers<S>, scoreGradient: [Double], forward: LayerForward<S>, decision: RouterDecision,
        config: MoEConfig, threads: Int
    ) throws -> (weight: ScratchBuffer<S>, input: ScratchBuffer<S>) {
        let d = config.hidden, E = config.experts, tokens = decision.tokens
        let logitGradient = try Router.logitGradient(
            scoreGradient: scoreGradient, logits: forward.logits, decision: decision, config: config
        ).map { S($0) }
        let weight = ScratchBuffer<S>(count: d * E, threads: threads)
        let input = ScratchBuffer<S>(count: tokens * d, threads: threads)
        logitGradient.withUnsafeBufferPointer { dZ in
            let dZ = address(dZ)
            groupedGEMM(
                [GEMMProblem(a: MatrixOperand(w.x, leading: d).transposed, b: MatrixOperand(dZ, leading: E),
                             c: weight.pointer, ldc: E, m: d, n: E, k: tokens),
                 GEMMProblem(a: MatrixOperand(dZ, leading: E), b: MatrixOperand(w.router, leading: E).transposed,
                             c: input.pointer, ldc: d, m: tokens, n: d, k: E)],
                threads: threads)
        }
        return (weight, input)
    }

    /// The GEMM epilogue of dA′ = dO·W2ᵀ, row by row: dS = ⟨dA′, A⟩ (in Double), dA = s·dA′,
    /// dH = act′(H; dA), and A becomes A′ = s·A in place for the dW2 GEMM.
    static func epilogue<S: BinaryFloatingPoint & Sendable>(
        hidden: ScratchBuffer<S>, activated: ScratchBuffer<S>, gradient: ScratchBuffer<S>, scores: [S], rows: Int,
        activation: Activation, intermediate n: Int, storage: StoragePrecision, threads: Int
    ) -> (scoreGradient: [Double], hiddenGradient: ScratchBuffer<S>) {
        let up = activation.isGated ? 2 * n : n
        let hiddenGradient = ScratchBuffer<S>(count: rows * up, threads: threads)
        var scoreGradient = [Double](repeating: 0, count: rows)
        let h = hidden.pointer, a = activated.pointer, dA = gradient.pointer, dH = hiddenGradient.pointer
        scoreGradient.withUnsafeMutableBufferPointer { dS in
            let dS = UncheckedSendable(dS)
            parallelChunks(rows, threads: threads, grain: 64) { range in
                for p in range {
                    let aRow = a + p * n, gRow = dA + p * n, s = scores[p]
                    var dot = 0.0
                    for i in 0..<n { dot += Double(gRow[i]) * Double(aRow[i]) }
                    dS.value[p] = dot
                    for i in 0..<n {
                        gRow[i] = s * gRow[i]
                        aRow[i] = s * aRow[i]
                    }
                    activation.backward(h + p * up, gradient: gRow, into: dH + p * up, width: n)
                }
            }
        }
        hiddenGradient.store(storage, threads: threads)
        activated.store(storage, threads: threads)
        return (scoreGradient, hiddenGradient)
    }

    /// Shared experts backward: dA_s = dO·W2sᵀ, dH_s = act′(H_s; dA_s), dW2s = A_sᵀ·dO, dW1s = Xᵀ·dH_s,
    /// and their input term dX_s = dH_s·W1sᵀ, [S, T, d].
    static func sharedBackward<S: BinaryFloatingPoint & Sendable>(
        _ w: LayerPointers<S>, dO: UnsafePointer<S>, sharedHidden: Tensor<S>, tokens: Int, config: MoEConfig,
        storage: StoragePrecision, threads: Int
    ) -> (w1: ScratchBuffer<S>, w2: ScratchBuffer<S>, input: ScratchBuffer<S>) {
        let count = config.sharedExperts, d = config.hidden
        let n = config.sharedIntermediate, up = config.sharedUpColumns
        let hidden = ScratchBuffer<S>(count: count * tokens * up, threads: threads)
        hidden.pointer.update(from: sharedHidden.scalars, count: hidden.count)
        let activated = activate(
            hidden, rows: count * tokens, config: config, storage: storage, threads: threads, intermediate: n)
        let activationGradient = ScratchBuffer<S>(count: count * tokens * n, threads: threads)
        groupedGEMM(
            (0..<count).map { s in
                GEMMProblem(a: MatrixOperand(dO, leading: d), b: MatrixOperand(w.sharedW2 + s * n * d, leading: d).transposed,
                            c: activationGradient.pointer + s * tokens * n, ldc: n, m: tokens, n: n, k: d)
            }, threads: threads)
        let (_, hiddenGradient) = epilogue(
            hidden: hidden, activated: activated, gradient: activationGradient,
            scores: [S](repeating: 1, count: count * tokens), rows: count * tokens, activation: config.activation,
            intermediate: n, storage: storage, threads: threads)
        let w1 = ScratchBuffer<S>(count: count * d * up, threads: threads)
        let w2 = ScratchBuffer<S>(count: count * n * d, threads: threads)
        let input = ScratchBuffer<S>(count: count * tokens * d, threads: threads)
        var problems: [GEMMProblem<S>] = []
        for s in 0..<count {
            let a = UnsafePointer(activated.pointer + s * tokens * n)
            let dH = UnsafePointer(hiddenGradient.pointer + s * tokens * up)
            problems.append(GEMMProblem(
                a: MatrixOperand(a, leading: n).transposed, b: MatrixOperand(dO, leading: d),
                c: w2.pointer + s * n * d, ldc: d, m: n, n: d, k: tokens))
            problems.append(GEMMProblem(
                a: MatrixOperand(w.x, leading: d).transposed, b: MatrixOperand(dH, leading: up),
                c: w1.pointer + s * d * up, ldc: up, m: d, n: up, k: tokens))
            problems.append(GEMMProblem(
                a: MatrixOperand(dH, leading: up), b: MatrixOperand(w.sharedW1 + s * d * up, leading: up).transposed,
                c: input.pointer + s * tokens * d, ldc: d, m: tokens, n: d, k: up))
        }
        groupedGEMM(problems, threads: threads)
        return (w1, w2, input)
    }

    /// The router decision a forward pass made, rebuilt from its plan, scores and picks.
    static func routerDecision<S: BinaryFloatingPoint & Sendable>(
        of forward: LayerForward<S>, tokens: Int, config: MoEConfig
    ) throws -> RouterDecision {
        let plan = forward.plan, slots = plan.topK, K = config.topK
        guard plan.tokens == tokens, plan.experts == config.experts, slots >= K,
              plan.expertIndex.count == tokens * slots
        else {
            throw SwitchyardError(
                .shapeMismatch,
                "forward plan (T = \(plan.tokens), E = \(plan.experts), slots = \(slots)) does not match T = \(tokens), "
                    + "E = \(config.experts), K = \(K)")
        }
        try forward.scores.requireShape([tokens, slots], "forward scores")
        try forward.logits.requireShape([tokens, config.experts], "forward logits")
        var selected = forward.selectedExperts
        if selected.isEmpty {
            guard slots == K, !plan.expertIndex.contains(-1) else {
                throw SwitchyardError(
                    .invalidConfiguration,
                    "forward.selectedExperts is empty but slots were dropped or added; backward needs the router's picks")
            }
            selected = plan.expertIndex
        }
        guard selected.count == tokens * K else {
            throw SwitchyardError(.shapeMismatch, "forward.selectedExperts must hold T·K = \(tokens * K) entries, got \(selected.count)")
        }
        return RouterDecision(
            tokens: tokens, experts: config.experts, topK: K, slots: slots, selected: selected,
            expertIndex: plan.expertIndex, scores: forward.scores.scalars.map { Double($0) },
            margin: forward.selectionMargin)
    }
}
