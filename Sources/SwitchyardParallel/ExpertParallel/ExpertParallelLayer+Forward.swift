import Switchyard

/// One rank's forward result: its tokens' output and routing, and what backward needs.
public struct ExpertParallelForward<S: BinaryFloatingPoint & Sendable>: Sendable {
    /// O for this rank's tokens, [T, d].
    public var output: Tensor<S>
    /// Z = X·Wr, [T, E].
    public var logits: Tensor<S>
    /// The router's decision for this rank's tokens.
    public var decision: RouterDecision
    /// Rows this rank sent to other ranks (each token once per remote destination), over all chunks.
    public var remoteRowsSent: Int
    /// Per chunk: the plan and what arrived here.
    var chunks: [DispatchedChunk<S>]
}

/// What one chunk's dispatch delivered to this rank: rows, each with K slot entries (−1: not served here) and
/// the K scores.
struct DispatchedChunk<S: BinaryFloatingPoint & Sendable>: Sendable {
    var tokens: Range<Int>
    var plan: DispatchPlan
    var receiveCounts: [Int]
    var rows: [S]
    var slots: [Int32]
    var scores: [S]

    var receivedRows: Int { receiveCounts.reduce(0, +) }

    /// For each local slot, the received rows it serves (ascending) and the choice k of each.
    func rowsBySlot(slotCount: Int, topK: Int) -> [[(row: Int, k: Int)]] {
        var bySlot = [[(row: Int, k: Int)]](repeating: [], count: slotCount)
        for row in 0..<receivedRows {
            for k in 0..<topK where slots[row * topK + k] >= 0 { bySlot[Int(slots[row * topK + k])].append((row, k)) }
        }
        return bySlot
    }

    /// The rows of `source` [*, d] listed in `entries`, as a tensor [entries.count, d].
    static func gather(_ source: [S], entries: [(row: Int, k: Int)], width d: Int, scale: [S]? = nil) -> Tensor<S> {
        var out = Tensor<S>(zeros: [entries.count, d])
        for (j, entry) in entries.enumerated() {
            let s = scale?[j] ?? 1
            for i in 0..<d { out.scalars[j * d + i] = scale == nil ? source[entry.row * d + i] : s * source[entry.row * d + i] }
        }
        return out
    }
}

extension ExpertParallelLayer {
    /// Runs this rank's part of the layer forward over its tokens `x` [T, d] (T may be 0). Every rank of
    /// `communicator` must call it at the same time, with the same options.
    ///
    /// - Throws: ``SwitchyardError`` for mismatched shapes, a communicator that does not match the placement,
    ///   or a peer's failure.
    public func forward(_ x: Tensor<S>, communicator: some Communicator) throws -> ExpertParallelForward<S> {
        try requireCommunicator(communicator)
        let d = config.hidden, K = config.topK
        guard x.shape.count == 2, x.shape[1] == d else {
            throw SwitchyardError(.shapeMismatch, "input X must have shape [T, \(d)], got \(x.shape)")
        }
        let tokens = x.shape[0]
        let logits = try self.logits(x)
        let decision = try Router.route(logits: logits, bias: routerBias, config: config)
        var output = Tensor<S>(zeros: [tokens, d])
        var chunks: [DispatchedChunk<S>] = []
        var remoteRows = 0
        for c in 0..<options.chunks {
            let range = chunkRange(c, tokens: tokens)
            let plan = try DispatchPlan(
                expertIndex: Array(decision.expertIndex[(range.lowerBound * K)..<(range.upperBound * K)]),
                tokens: range.count, topK: K, placement: placement, sourceRank: rank, firstToken: range.lowerBound)
            let chunk = try dispatch(x, decision: decision, tokens: range, plan: plan, communicator: communicator)
            let partial = try expertOutputs(chunk)
            let returned = try options.dispatchFormat == .fp8
                ? DispatchTransport.bfloat16Rows(
                    partial, width: d, sendCounts: chunk.receiveCounts, receiveCounts: plan.sendCounts, communicator: communicator)
                : DispatchTransport.rows(
                    partial, width: d, sendCounts: chunk.receiveCounts, receiveCounts: plan.sendCounts, communicator: communicator)
            // Partials arrive in row order: destination ranks ascending for each token.
            for (row, token) in plan.sendTokens.enumerated() {
                let t = range.lowerBound + Int(token)
                for i in 0..<d { output.scalars[t * d + i] += returned[row * d + i] }
            }
            remoteRows += plan.remoteRows(sourceRank: rank)
            chunks.append(chunk)
        }
        return ExpertParallelForward(
            output: output, logits: logits, decision: decision, remoteRowsSent: remoteRows, chunks: chunks)
    }

    /// Sends each planned row (the token's X, its slot entries and scores) and returns what arrived here.
    private func dispatch(
        _ x: Tensor<S>, decision: RouterDecision, tokens range: Range<Int>, plan: DispatchPlan,
        communicator: some Communicator
    ) throws -> DispatchedChunk<S> {
        let d = config.hidden, K = config.topK
        let receiveCounts = try communicator.exchangeCounts(plan.sendCounts)
        var rows = [S](repeating: 0, count: plan.rows * d)
        var scores = [S](repeating: 0, count: plan.rows * K)
        for (row, token) in plan.sendTokens.enumerated() {
            let t = range.lowerBound + Int(token)
            for i in 0..<d { rows[row * d + i] = x.scalars[t * d + i] }
            for k in 0..<K where plan.sendSlots[row * K + k] >= 0 { scores[row * K + k] = S(decision.scores[t * K + k]) }
        }
        let arrived = try options.dispatchFormat == .fp8
            ? DispatchTransport.fp8Rows(rows, width: d, sendCounts: plan.sendCounts, receiveCounts: receiveCounts, communicator: communicator)
            : DispatchTransport.rows(rows, width: d, sendCounts: plan.sendCounts, receiveCounts: receiveCounts, communicator: communicator)
        return DispatchedChunk(
            tokens: range, plan: plan, receiveCounts: receiveCounts, rows: arrived,
            slots: try DispatchTransport.rows(plan.sendSlots, width: K, sendCounts: plan.sendCounts, receiveCounts: receiveCounts, communicator: communicator),
            scores: try DispatchTransport.rows(scores, width: K, sendCounts: plan.sendCounts, receiveCounts: receiveCounts, communicator: communicator))
    }

    /// Each received row's partial output Σ_k s_k·Y_k over the choices served here, k ascending.
    private func expertOutputs(_ chunk: DispatchedChunk<S>) throws -> [S] {
        let d = config.hidden, K = config.topK
        let bySlot = chunk.rowsBySlot(slotCount: w1.shape[0], topK: K)
        var outputs: [Tensor<S>] = []
        var indexInSlot = [Int](repeating: -1, count: chunk.receivedRows * K)
        for (slot, entries) in bySlot.enumerated() {
            for (j, entry) in entries.enumerated() { indexInSlot[entry.row * K + entry.k] = j }
            outputs.append(
                entries.isEmpty
                    ? Tensor(zeros: [0, d])
                    : try experts.forward(slot: slot, rows: DispatchedChunk.gather(chunk.rows, entries: entries, width: d)).output)
        }
        var partial = [S](repeating: 0, count: chunk.receivedRows * d)
        for row in 0..<chunk.receivedRows {
            for k in 0..<K where chunk.slots[row * K + k] >= 0 {
                let y = outputs[Int(chunk.slots[row * K + k])], j = indexInSlot[row * K + k]
                let s = chunk.scores[row * K + k]
                for i in 0..<d { partial[row * d + i] += s * y.scalars[j * d + i] }
            }
        }
        return partial
    }
}
