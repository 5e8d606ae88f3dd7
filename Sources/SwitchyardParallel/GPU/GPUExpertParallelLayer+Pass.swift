import Switchyard
import SwitchyardCUDA

extension GPUExpertParallelLayer {
    /// Runs this rank's part of the layer forward over its tokens: X [T, d] bf16 at `input` (T may be 0). Every rank
    /// must call it at the same time. Work is enqueued on `stream` (and the communicator's stream); the host waits
    /// once, for the router's choices, before planning. The returned pass's output is complete once `stream` is.
    public func forward(input: UInt64, tokens: Int, stream: CUDAStream) throws -> GPUExpertParallelPass {
        guard tokens >= 0 else { throw SwitchyardError(.invalidConfiguration, "tokens must be ≥ 0, got \(tokens)") }
        let K = config.topK, d = config.hidden
        let routing = try routerWorkspace(tokens: tokens)
        try router.route(input: input, tokens: tokens, workspace: routing, stream: stream)
        let clock = ContinuousClock(), start = clock.now
        try stream.synchronize()
        let routed = clock.now
        let expertIndex = try routing.expertIndex.download(Int32.self, count: tokens * K)
        let scores = try routing.scores.download(Float.self, count: tokens * K)

        // Plans of every chunk, and what every peer will send here (one exchange for all chunks).
        var plans: [DispatchPlan] = []
        var ranges: [Range<Int>] = []
        for chunk in 0..<chunks {
            let range = (chunk * tokens / chunks)..<((chunk + 1) * tokens / chunks)
            ranges.append(range)
            plans.append(try DispatchPlan(
                expertIndex: Array(expertIndex[(range.lowerBound * K)..<(range.upperBound * K)]), tokens: range.count,
                topK: K, placement: placement, sourceRank: rank, firstToken: range.lowerBound))
        }
        let receiveCounts = try exchangeCounts(plans.map(\.sendCounts))
        var dispatched: [GPUDispatchedChunk] = []
        var sendBase = 0, receiveBase = 0
        for chunk in 0..<chunks {
            let item = GPUDispatchedChunk(
                tokens: ranges[chunk], plan: plans[chunk], receiveCounts: receiveCounts[chunk], sendBase: sendBase,
                receiveBase: receiveBase)
            sendBase += item.sentRows
            receiveBase += item.receivedRows
            dispatched.append(item)
        }
        let sent = sendBase, received = receiveBase

        // Host metadata: each sent row's token, slots and scores; each token's rows (ascending, −1 padded) for the
        // combine; each assignment's place in the returned dS [sent, K] for the router's backward.
        var sendIndex = [Int32](repeating: 0, count: sent)
        var sendSlots = [Int32](repeating: -1, count: sent * K)
        var sendScores = [Float](repeating: 0, count: sent * K)
        var rowsOfToken = [Int32](repeating: -1, count: tokens * K)
        var scorePosition = [Int32](repeating: -1, count: tokens * K)
        for item in dispatched {
            let plan = item.plan, t0 = item.tokens.lowerBound
            for (row, token) in plan.sendTokens.enumerated() {
                let global = item.sendBase + row, t = t0 + Int(token)
                sendIndex[global] = Int32(t)
                for k in 0..<K where plan.sendSlots[row * K + k] >= 0 {
                    sendSlots[global * K + k] = plan.sendSlots[row * K + k]
                    sendScores[global * K + k] = scores[t * K + k]
                }
            }
            for local in 0..<item.tokens.count {
                // The token's distinct rows in ascending order (insertion into its K-wide slice of rowsOfToken).
                let t = t0 + local
                var count = 0
                for k in 0..<K {
                    let row = plan.rowOfAssignment[local * K + k]
                    guard row >= 0 else { continue }
                    let global = Int32(item.sendBase) + row
                    scorePosition[t * K + k] = global * Int32(K) + Int32(k)
                    var j = 0
                    while j < count, rowsOfToken[t * K + j] < global { j += 1 }
                    guard j == count || rowsOfToken[t * K + j] != global else { continue }
                    var m = count
                    while m > j { rowsOfToken[t * K + m] = rowsOfToken[t * K + m - 1]; m -= 1 }
                    rowsOfToken[t * K + j] = global
                    count += 1
                }
            }
        }
        let sendIndexBuffer = try buffer("sendIndex", bytes: sent * 4)
        let sendSlotsBuffer = try buffer("sendSlots", bytes: sent * K * 4)
        let sendScoresBuffer = try buffer("sendScores", bytes: sent * K * 4)
        let rowsOfTokenBuffer = try buffer("rowsOfToken", bytes: tokens * K * 4)
        try sendIndexBuffer.upload(sendIndex)
        try sendSlotsBuffer.upload(sendSlots)
        try sendScoresBuffer.upload(sendScores)
        try rowsOfTokenBuffer.upload(rowsOfToken)
        try buffer("scorePosition", bytes: tokens * K * 4).upload(scorePosition)

        let sendX = try buffer("sendX", bytes: sent * d * 2), returned = try buffer("returned", bytes: sent * d * 2)
        let receiveX = try buffer("receiveX", bytes: received * d * 2)
        let receiveSlots = try buffer("receiveSlots", bytes: received * K * 4)
        let receiveScores = try buffer("receiveScores", bytes: received * K * 4)
        let output = try buffer("output", bytes: tokens * d * 2)
        for (chunk, item) in dispatched.enumerated() where chunk >= workspaces.count || workspaces[chunk].capacity < item.receivedRows {
            let made = try GPUWorkspace(layer: experts, capacity: item.receivedRows)
            if poisonsBuffers { try made.poison() }
            if chunk < workspaces.count { workspaces[chunk] = made } else { workspaces.append(made) }
        }

        let planned = clock.now
        let comm = communicator.stream
        // Gather every chunk's rows first (cheap, and the first dispatch can start at once).
        for (chunk, item) in dispatched.enumerated() {
            try kernels.enqueueCombine(
                rows: input, position: sendIndexBuffer.address + UInt64(item.sendBase * 4), scores: 0, choices: 1,
                width: d, extra: 0, count: item.sentRows, out: sendX.address + UInt64(item.sendBase * d * 2),
                stream: stream)
            try event("packed\(chunk)").record(on: stream)
        }
        func dispatch(_ chunk: Int) throws {
            let item = dispatched[chunk]
            try comm.wait(for: event("packed\(chunk)"))
            try exchangeRows(send: sendX, sendBase: item.sendBase, sendCounts: item.plan.sendCounts,
                             receive: receiveX, receiveBase: item.receiveBase, receiveCounts: item.receiveCounts,
                             width: d, dtype: .bfloat16)
            try exchangeRows(send: sendSlotsBuffer, sendBase: item.sendBase, sendCounts: item.plan.sendCounts,
                             receive: receiveSlots, receiveBase: item.receiveBase, receiveCounts: item.receiveCounts,
                             width: K, dtype: .int32)
            try exchangeRows(send: sendScoresBuffer, sendBase: item.sendBase, sendCounts: item.plan.sendCounts,
                             receive: receiveScores, receiveBase: item.receiveBase, receiveCounts: item.receiveCounts,
                             width: K, dtype: .float32)
            try event("dispatched\(chunk)").record(on: comm)
        }
        func compute(_ chunk: Int) throws {
            let item = dispatched[chunk]
            try stream.wait(for: event("dispatched\(chunk)"))
            try experts.forwardRouted(
                input: receiveX.address + UInt64(item.receiveBase * d * 2), rows: item.receivedRows,
                expertIndex: receiveSlots.address + UInt64(item.receiveBase * K * 4),
                scores: receiveScores.address + UInt64(item.receiveBase * K * 4), workspace: workspaces[chunk],
                stream: stream)
            try event("computed\(chunk)").record(on: stream)
        }
        func combine(_ chunk: Int) throws {
            let item = dispatched[chunk]
            try comm.wait(for: event("computed\(chunk)"))
            try exchangeRows(send: workspaces[chunk].output, sendBase: 0, sendCounts: item.receiveCounts,
                             receive: returned, receiveBase: item.sendBase, receiveCounts: item.plan.sendCounts,
                             width: d, dtype: .bfloat16)
            try event("combined\(chunk)").record(on: comm)
        }
        func sum(_ chunk: Int) throws {
            let item = dispatched[chunk]
            try stream.wait(for: event("combined\(chunk)"))
            try kernels.enqueueCombine(
                rows: returned.address, position: rowsOfTokenBuffer.address + UInt64(item.tokens.lowerBound * K * 4),
                scores: 0, choices: K, width: d, extra: 0, count: item.tokens.count,
                out: output.address + UInt64(item.tokens.lowerBound * d * 2), stream: stream)
        }
        try pipeline(dispatch: dispatch, compute: compute, combine: combine, finish: sum)
        hostTimes = HostTimes(routingWait: routed - start, planning: planned - routed, enqueue: clock.now - planned)
        lastPass = GPUExpertParallelPass(
            tokens: tokens, output: output, expertIndex: expertIndex, scores: scores, chunks: dispatched, rank: rank)
        return lastPass!
    }

    /// Issues the chunks so that dispatch of chunk i+1 and combine of chunk i−1 sit beside chunk i's compute:
    /// communication stream D0 D1 C0 D2 C1 …, compute stream E0 E1 F0 E2 F1 … (F: the source-side finish of a
    /// chunk, after its combine). With one chunk this is the plain sequence.
    func pipeline(
        dispatch: (Int) throws -> Void, compute: (Int) throws -> Void, combine: (Int) throws -> Void,
        finish: (Int) throws -> Void
    ) throws {
        try dispatch(0)
        for chunk in 0..<chunks {
            if chunk + 1 < chunks { try dispatch(chunk + 1) }
            try compute(chunk)
            try combine(chunk)
            if chunk >= 1 { try finish(chunk - 1) }
        }
        try finish(chunks - 1)
    }

    /// All-to-all-v of row blocks between two pass-wide buffers, starting at the given rows.
    func exchangeRows(
        send: DeviceBuffer, sendBase: Int, sendCounts: [Int], receive: DeviceBuffer, receiveBase: Int,
        receiveCounts: [Int], width: Int, dtype: DType
    ) throws {
        let bytes = dtype.byteSize
        let sendCount = sendCounts.reduce(0, +) * width, receiveCount = receiveCounts.reduce(0, +) * width
        try communicator.allToAllV(
            send: TensorView(address: UInt(send.address) + UInt(sendBase * width * bytes), shape: [sendCount], dtype: dtype,
                             device: .cuda),
            sendCounts: sendCounts.map { $0 * width },
            receive: TensorView(address: UInt(receive.address) + UInt(receiveBase * width * bytes), shape: [receiveCount],
                                dtype: dtype, device: .cuda),
            receiveCounts: receiveCounts.map { $0 * width })
    }

    /// What every peer sends here, per chunk: one all-to-all of all chunks' counts, then one wait.
    func exchangeCounts(_ sendCounts: [[Int]]) throws -> [[Int]] {
        let R = placement.ranks, C = sendCounts.count
        var send = [Int32](repeating: 0, count: R * C)
        for peer in 0..<R { for chunk in 0..<C { send[peer * C + chunk] = Int32(sendCounts[chunk][peer]) } }
        let sendBuffer = try buffer("countsOut", bytes: R * C * 4), receiveBuffer = try buffer("countsIn", bytes: R * C * 4)
        try sendBuffer.upload(send)
        try exchangeRows(send: sendBuffer, sendBase: 0, sendCounts: Array(repeating: 1, count: R), receive: receiveBuffer,
                         receiveBase: 0, receiveCounts: Array(repeating: 1, count: R), width: C, dtype: .int32)
        try communicator.stream.synchronize()
        let received = try receiveBuffer.download(Int32.self, count: R * C)
        return (0..<C).map { chunk in (0..<R).map { peer in Int(received[peer * C + chunk]) } }
    }

    /// The router's buffers for `tokens` tokens (grown when too small).
    func routerWorkspace(tokens: Int) throws -> GPURouterWorkspace {
        if let existing = routing, existing.capacity >= tokens { return existing }
        let made = try GPURouterWorkspace(router: router, capacity: tokens)
        if poisonsBuffers {
            for buffer in [made.logits, made.expertIndex, made.scores, made.scoreGradient, made.logitGradient,
                           made.inputGradient, made.weightGradient] { try buffer.fill(byte: 0xFF) }
        }
        routing = made
        return made
    }
}
