extension ReferenceLayer {
    /// Runs the layer forward: Z = X·Wr, routing, dispatch, H = X[gather]·W1[e], A = act(H), Y = A·W2[e],
    /// O[t] = Σ_slots s·Y (+ the shared experts' output).
    ///
    /// - Parameters:
    ///   - x: X, [T, d]; T = 0 is allowed.
    ///   - storage: `.bfloat16` rounds the stored activations H, A, Y and O to bf16 (math stays in `S`), as a GPU
    ///     with bf16 storage and fp32 accumulation does.
    ///   - routingOverride: [T·K] expert indices to use instead of the router's picks (see ``Router/route``).
    ///   - threads: worker threads (default: every core); results do not depend on it.
    /// - Returns: O and what backward needs: H, the plan, the logits, the scores, the router's picks.
    /// - Throws: ``SwitchyardError`` for a bad configuration, mismatched shapes, non-finite X or router weights,
    ///   a bad override, or a scalar type other than Float and Double.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func forward<S: BinaryFloatingPoint & Sendable>(
        _ x: Tensor<S>, weights: MoEWeights<S>, storage: StoragePrecision = .float32,
        routingOverride: [Int32]? = nil, threads: Int? = nil
    ) throws -> LayerForward<S> {
        let (tokens, threads) = try validate(x, weights: weights, threads: threads)
        let config = weights.config
        let d = config.hidden, n = config.intermediate, up = config.upColumns, E = config.experts
        return try withLayerPointers(x, weights) { w in
            let logitBuffer = ScratchBuffer<S>(count: tokens * E, threads: threads)
            groupedGEMM(
                [GEMMProblem(a: MatrixOperand(w.x, leading: d), b: MatrixOperand(w.router, leading: E),
                             c: logitBuffer.pointer, ldc: E, m: tokens, n: E, k: d)], threads: threads)
            let logits = logitBuffer.tensor([tokens, E])
            let decision = try Router.route(
                logits: logits, bias: weights.routerBias, config: config, override: routingOverride)
            let plan = try RoutingPlan(
                tokens: tokens, experts: E, topK: decision.slots, expertIndex: decision.expertIndex)
            let rows = plan.rows

            let hidden = ScratchBuffer<S>(count: rows * up, threads: threads)
            plan.gatherIndex.withUnsafeBufferPointer { gather in
                let gather = address(gather)
                groupedGEMM(
                    perExpert(
                        plan, m: { Int(plan.counts[$0]) }, n: up, k: { _ in d }, ldc: up,
                        a: { _, first in MatrixOperand(w.x, leading: d, rowIndex: gather + first) },
                        b: { e, _ in MatrixOperand(w.w1 + e * d * up, leading: up) },
                        c: { _, first in hidden.pointer + first * up }), threads: threads)
            }
            hidden.store(storage, threads: threads)
            let activated = activate(hidden, rows: rows, config: config, storage: storage, threads: threads)
            let expertOutput = ScratchBuffer<S>(count: rows * d, threads: threads)
            groupedGEMM(
                perExpert(
                    plan, m: { Int(plan.counts[$0]) }, n: d, k: { _ in n }, ldc: d,
                    a: { _, first in MatrixOperand(UnsafePointer(activated.pointer + first * n), leading: n) },
                    b: { e, _ in MatrixOperand(w.w2 + e * n * d, leading: d) },
                    c: { _, first in expertOutput.pointer + first * d }), threads: threads)
            expertOutput.store(storage, threads: threads)

            let shared = sharedForward(w, tokens: tokens, config: config, storage: storage, threads: threads)
            let scores = decision.scores.map { S($0) }
            let output = combine(
                expertOutput, scores: scores, plan: plan, shared: shared.output, sharedCount: config.sharedExperts,
                hidden: d, threads: threads)
            output.store(storage, threads: threads)
            let losses = Router.losses(logits: logits, decision: decision, config: config)
            return LayerForward(
                output: output.tensor([tokens, d]), plan: plan, logits: logits,
                scores: try Tensor(shape: [tokens, decision.slots], scalars: scores),
                hidden: hidden.tensor([rows, up]),
                sharedHidden: shared.hidden.tensor([config.sharedExperts, tokens, config.sharedUpColumns]),
                auxLoss: losses.aux, zLoss: losses.z, selectedExperts: decision.selected,
                selectionMargin: decision.margin)
        }
    }

    /// A = act(H) row by row, stored at the given precision.
    static func activate<S: BinaryFloatingPoint & Sendable>(
        _ hidden: ScratchBuffer<S>, rows: Int, config: MoEConfig, storage: StoragePrecision, threads: Int,
        intermediate: Int? = nil
    ) -> ScratchBuffer<S> {
        let n = intermediate ?? config.intermediate
        let up = config.activation.isGated ? 2 * n : n
        let activated = ScratchBuffer<S>(count: rows * n, threads: threads)
        let h = hidden.pointer, a = activated.pointer, activation = config.activation
        parallelChunks(rows, threads: threads, grain: 64) { range in
            for r in range { activation.apply(h + r * up, into: a + r * n, width: n) }
        }
        activated.store(storage, threads: threads)
        return activated
    }

    /// Shared experts on every token: H_s = X·W1s[s], Y_s = act(H_s)·W2s[s]; H_s is [S, T, sharedUp] and
    /// Y_s [S, T, d].
    static func sharedForward<S: BinaryFloatingPoint & Sendable>(
        _ w: LayerPointers<S>, tokens: Int, config: MoEConfig, storage: StoragePrecision, threads: Int
    ) -> (hidden: ScratchBuffer<S>, output: ScratchBuffer<S>) {
        let count = config.sharedExperts, d = config.hidden
        let n = config.sharedIntermediate, up = config.sharedUpColumns
        let hidden = ScratchBuffer<S>(count: count * tokens * up, threads: threads)
        let output = ScratchBuffer<S>(count: count * tokens * d, threads: threads)
        groupedGEMM(
            (0..<count).map { s in
                GEMMProblem(a: MatrixOperand(w.x, leading: d), b: MatrixOperand(w.sharedW1 + s * d * up, leading: up),
                            c: hidden.pointer + s * tokens * up, ldc: up, m: tokens, n: up, k: d)
            }, threads: threads)
        hidden.store(storage, threads: threads)
        let activated = activate(
            hidden, rows: count * tokens, config: config, storage: storage, threads: threads, intermediate: n)
        groupedGEMM(
            (0..<count).map { s in
                GEMMProblem(a: MatrixOperand(UnsafePointer(activated.pointer + s * tokens * n), leading: n),
                            b: MatrixOperand(w.sharedW2 + s * n * d, leading: d),
                            c: output.pointer + s * tokens * d, ldc: d, m: tokens, n: d, k: n)
            }, threads: threads)
        output.store(storage, threads: threads)
        return (hidden, output)
    }

    /// O[t] = Σ_j s[t,j]·Y[position(t,j)] over slots in order, then + Σ_s Y_s[t]: a gather-and-sum with a fixed
    /// order per element (no scatter, no atomics).
    static func combine<S: BinaryFloatingPoint & Sendable>(
        _ rows: ScratchBuffer<S>, scores: [S], plan: RoutingPlan, shared: ScratchBuffer<S>, sharedCount: Int,
        hidden d: Int, threads: Int
    ) -> ScratchBuffer<S> {
        let tokens = plan.tokens, slots = plan.topK
        let output = ScratchBuffer<S>(count: tokens * d, threads: threads)
        let y = rows.pointer, o = output.pointer, ys = shared.pointer
        scores.withUnsafeBufferPointer { scores in
            plan.positionOfAssignment.withUnsafeBufferPointer { position in
                parallelChunks(tokens, threads: threads, grain: 16) { range in
                    for t in range {
                        let out = o + t * d
                        for j in 0..<slots {
                            let p = Int(position[t * slots + j])
                            guard p >= 0 else { continue }
                            let s = scores[t * slots + j], row = y + p * d
                            for i in 0..<d { out[i] += s * row[i] }
                        }
                        for s in 0..<sharedCount {
                            let row = ys + (s * tokens + t) * d
                            for i in 0..<d { out[i] += row[i] }
                        }
                    }
                }
            }
        }
        return output
    }
}
