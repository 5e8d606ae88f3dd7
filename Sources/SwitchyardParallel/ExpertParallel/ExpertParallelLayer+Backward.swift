import Switchyard

/// One rank's gradients: for its own tokens (dX, dS), the replicated router (summed over ranks), and its slots.
public struct ExpertParallelGradients<S: BinaryFloatingPoint & Sendable>: Sendable {
    /// dX for this rank's tokens, [T, d].
    public var input: Tensor<S>
    /// dWr [d, E], summed over every rank's tokens (the same on every rank).
    public var router: Tensor<S>
    /// dW1 [slots, d, up] and dW2 [slots, n, d] of this rank's slots, from the tokens each slot served.
    public var w1: Tensor<S>
    public var w2: Tensor<S>
    /// dS [T, K] for this rank's tokens.
    public var scores: Tensor<S>
}

extension ExpertParallelLayer {
    /// Runs this rank's part of the layer backward from dO [T, d] of its tokens: dO travels like X did, each
    /// rank computes its slots' gradients and each row's dX partial and dS, these return to the source, which adds
    /// the partials in ascending rank order and runs the router backward on its own tokens.
    public func backward(
        _ outputGradient: Tensor<S>, input x: Tensor<S>, forward: ExpertParallelForward<S>, communicator: some Communicator
    ) throws -> ExpertParallelGradients<S> {
        try requireCommunicator(communicator)
        let d = config.hidden, K = config.topK, E = config.experts
        let tokens = forward.output.shape[0]
        try outputGradient.requireShape([tokens, d], "output gradient dO")
        try x.requireShape([tokens, d], "input X")
        var dX = Tensor<S>(zeros: [tokens, d])
        var dS = [Double](repeating: 0, count: tokens * K)
        var dW1 = Tensor<S>(zeros: w1.shape), dW2 = Tensor<S>(zeros: w2.shape)
        for chunk in forward.chunks {
            let plan = chunk.plan
            var rows = [S](repeating: 0, count: plan.rows * d)
            for (row, token) in plan.sendTokens.enumerated() {
                let t = chunk.tokens.lowerBound + Int(token)
                for i in 0..<d { rows[row * d + i] = outputGradient.scalars[t * d + i] }
            }
            let arrived = try DispatchTransport.rows(
                rows, width: d, sendCounts: plan.sendCounts, receiveCounts: chunk.receiveCounts, communicator: communicator)
            let local = try expertGradients(chunk, outputGradient: arrived, w1: &dW1, w2: &dW2)
            let returnedInput = try DispatchTransport.rows(
                local.input, width: d, sendCounts: chunk.receiveCounts, receiveCounts: plan.sendCounts, communicator: communicator)
            let returnedScores = try DispatchTransport.rows(
                local.scores, width: K, sendCounts: chunk.receiveCounts, receiveCounts: plan.sendCounts, communicator: communicator)
            for (row, token) in plan.sendTokens.enumerated() {
                let t = chunk.tokens.lowerBound + Int(token)
                for i in 0..<d { dX.scalars[t * d + i] += returnedInput[row * d + i] }
            }
            for t in 0..<chunk.tokens.count {
                for k in 0..<K {
                    let row = Int(plan.rowOfAssignment[t * K + k])
                    if row >= 0 { dS[(chunk.tokens.lowerBound + t) * K + k] = Double(returnedScores[row * K + k]) }
                }
            }
        }
        let dZ = try Router.logitGradient(scoreGradient: dS, logits: forward.logits, decision: forward.decision, config: config)
        var dRouter = [Double](repeating: 0, count: d * E)
        for t in 0..<tokens {
            for i in 0..<d {
                var sum = 0.0
                let xi = Double(x.scalars[t * d + i])
                for e in 0..<E {
                    sum += dZ[t * E + e] * Double(router.scalars[i * E + e])
                    dRouter[i * E + e] += xi * dZ[t * E + e]
                }
                dX.scalars[t * d + i] += S(sum)
            }
        }
        let summedRouter = try communicator.allReduce(dRouter, op: .sum)
        return ExpertParallelGradients(
            input: dX, router: try Tensor(shape: [d, E], scalars: summedRouter.map { S($0) }), w1: dW1, w2: dW2,
            scores: try Tensor(shape: [tokens, K], scalars: dS.map { S($0) }))
    }

    /// For each received row: Σ_k dX contributions of the choices served here (k ascending) and dS = ⟨dO, Y⟩ per
    /// choice; adds the slots' weight gradients into `w1`, `w2`.
    private func expertGradients(
        _ chunk: DispatchedChunk<S>, outputGradient dO: [S], w1 dW1: inout Tensor<S>, w2 dW2: inout Tensor<S>
    ) throws -> (input: [S], scores: [S]) {
        let d = config.hidden, K = config.topK
        let w1Size = w1.count / max(w1.shape[0], 1), w2Size = w2.count / max(w2.shape[0], 1)
        var inputBySlot: [Tensor<S>] = []
        var indexInSlot = [Int](repeating: -1, count: chunk.receivedRows * K)
        var scores = [S](repeating: 0, count: chunk.receivedRows * K)
        for (slot, entries) in chunk.rowsBySlot(slotCount: w1.shape[0], topK: K).enumerated() {
            guard !entries.isEmpty else {
                inputBySlot.append(Tensor(zeros: [0, d]))
                continue
            }
            let rows = DispatchedChunk.gather(chunk.rows, entries: entries, width: d)
            let scaled = DispatchedChunk.gather(
                dO, entries: entries, width: d, scale: entries.map { chunk.scores[$0.row * K + $0.k] })
            let forward = try experts.forward(slot: slot, rows: rows)
            let gradients = try experts.backward(slot: slot, rows: rows, outputGradient: scaled, forward: forward)
            for (j, entry) in entries.enumerated() {
                indexInSlot[entry.row * K + entry.k] = j
                var dot = 0.0
                for i in 0..<d { dot += Double(dO[entry.row * d + i]) * Double(forward.output.scalars[j * d + i]) }
                scores[entry.row * K + entry.k] = S(dot)
            }
            for i in 0..<w1Size { dW1.scalars[slot * w1Size + i] += gradients.w1.scalars[i] }
            for i in 0..<w2Size { dW2.scalars[slot * w2Size + i] += gradients.w2.scalars[i] }
            inputBySlot.append(gradients.input)
        }
        var input = [S](repeating: 0, count: chunk.receivedRows * d)
        for row in 0..<chunk.receivedRows {
            for k in 0..<K where chunk.slots[row * K + k] >= 0 {
                let g = inputBySlot[Int(chunk.slots[row * K + k])], j = indexInSlot[row * K + k]
                for i in 0..<d { input[row * d + i] += g.scalars[j * d + i] }
            }
        }
        return (input, scores)
    }

    /// The full dW1 [E, d, up] and dW2 [E, n, d] on every rank: each rank's slot gradients placed at their
    /// experts and summed over ranks (replicas of an expert add up).
    public func expertGradients(
        _ gradients: ExpertParallelGradients<S>, communicator: some Communicator
    ) throws -> (w1: Tensor<S>, w2: Tensor<S>) {
        try requireCommunicator(communicator)
        let c = config
        let w1Size = c.hidden * c.upColumns, w2Size = c.intermediate * c.hidden
        var fullW1 = [S](repeating: 0, count: c.experts * w1Size), fullW2 = [S](repeating: 0, count: c.experts * w2Size)
        for (slot, expert) in placement.slots[rank].enumerated() {
            for i in 0..<w1Size { fullW1[expert * w1Size + i] = gradients.w1.scalars[slot * w1Size + i] }
            for i in 0..<w2Size { fullW2[expert * w2Size + i] = gradients.w2.scalars[slot * w2Size + i] }
        }
        return (
            try Tensor(shape: [c.experts, c.hidden, c.upColumns], scalars: communicator.allReduce(fullW1, op: .sum)),
            try Tensor(shape: [c.experts, c.intermediate, c.hidden], scalars: communicator.allReduce(fullW2, op: .sum))
        )
    }
}
