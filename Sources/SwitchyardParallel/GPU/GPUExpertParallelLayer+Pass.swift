import Switchyard
import SwitchyardCUDA

extension GPUExpertParallelLayer {
    /// Runs this rank's part of the layer forward over its tokens: X [T, d] bf16 at `input` (T may be 0). Every rank
    /// must call it at the same time. Work is enqueued on `stream` (and the communicator's stream); the host waits
    /// twice: for the plan's row counts (routing and planning run on the device) and for the count exchange. The
    /// returned pass's output is complete once `stream` is.
    public func forward(input: UInt64, tokens: Int, stream: CUDAStream) throws -> GPUExpertParallelPass {
        guard tokens >= 0 else { throw SwitchyardError(.invalidConfiguration, "tokens must be ≥ 0, got \(tokens)") }
        let K = config.topK, d = config.hidden, R = placement.ranks
        let clock = ContinuousClock(), start = clock.now
        let ranges = (0..<chunks).map { chunk in (chunk * tokens / chunks)..<((chunk + 1) * tokens / chunks) }
        let chunkBegin = try buffer("chunkBegin", bytes: (chunks + 1) * 4)
        try chunkBegin.upload(ranges.map { Int32($0.lowerBound) } + [Int32(tokens)])
        let routing = try routerWorkspace(tokens: tokens)
        try router.route(input: input, tokens: tokens, workspace: routing, stream: stream)

        // The plan on the device; only each (chunk, rank)'s row count comes back.
        let mask = try buffer("mask", bytes: tokens * 8), counts = try buffer("counts", bytes: chunks * R * 4)
        try kernels.enqueueDispatchCounts(
            expertIndex: routing.expertIndex.address, tokens: tokens, topK: K, ranks: R, sourceRank: rank,
            replicas: replicaTable, chunkBegin: chunkBegin.address, chunks: chunks, mask: mask.address,
            counts: counts.address, stream: stream)
        try stream.synchronize()
        let routed = clock.now
        let flat = tokens > 0 ? try counts.download(Int32.self, count: chunks * R) : [Int32](repeating: 0, count: chunks * R)
        let sendCounts = (0..<chunks).map { chunk in (0..<R).map { Int(flat[chunk * R + $0]) } }
        var rowBase = [Int32](repeating: 0, count: chunks * R)
        var sent = 0
        for chunk in 0..<chunks {
            for r in 0..<R {
                rowBase[chunk * R + r] = Int32(sent)
                sent += sendCounts[chunk][r]
            }
        }
        let rowBaseBuffer = try buffer("rowBase", bytes: chunks * R * 4)
        try rowBaseBuffer.upload(rowBase)
        let sendIndexBuffer = try buffer("sendIndex", bytes: sent * 4)
        let sendSlotsBuffer = try buffer("sendSlots", bytes: sent * K * 4)
        let sendScoresBuffer = try buffer("sendScores", bytes: sent * K * 4)
        let rowsOfTokenBuffer = try buffer("rowsOfToken", bytes: tokens * K * 4)
        try kernels.enqueueDispatchRows(
            expertIndex: routing.expertIndex.address, scores: routing.scores.address, tokens: tokens, topK: K, ranks: R,
            sourceRank: rank, replicas: replicaTable, chunkBegin: chunkBegin.address, chunks: chunks, mask: mask.address,
            rowBase: rowBaseBuffer.address, rowOf: try buffer("rowOf", bytes: tokens * R * 4).address,
            sendIndex: sendIndexBuffer.address, sendSlots: sendSlotsBuffer.address, sendScores: sendScoresBuffer.address,
            rowsOfToken: rowsOfTokenBuffer.address,
            scorePosition: try buffer("scorePosition", bytes: tokens * K * 4).address, stream: stream)

        let receiveCounts = try exchangeCounts(sendCounts)
        var dispatched: [GPUDispatchedChunk] = []
        var sendBase = 0, receiveBase = 0
        for chunk in 0..<chunks {
            let item = GPUDispatchedChunk(
                tokens: ranges[chunk], sendCounts: sendCounts[chunk], receiveCounts: receiveCounts[chunk],
                sendBase: sendBase, receiveBase: receiveBase)
            sendBase += item.sentRows
            receiveBase += item.receivedRows
            dispatched.append(item)
        }
        let received = receiveBase

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

        // For the backward's weight gradients over every chunk at once: the plan offsets and gather index of each
        // chunk that received rows (a chunk without rows built no plan), and where its positions (K per received
        // row at most) and rows start in the pass-wide buffers.
        let planned = dispatched.indices.filter { dispatched[$0].receivedRows > 0 }
        if chunks > 1 {
            let tables = planned.map { UInt64(workspaces[$0].planOffsets) } + planned.map { UInt64(workspaces[$0].planGather) }
            let bases = planned.map { Int32(dispatched[$0].receiveBase * K) } + planned.map { Int32(dispatched[$0].receiveBase) }
            let mergeTables = try buffer("mergeTables", bytes: chunks * 24)
            try mergeTables.upload(tables)
            try mergeTables.upload(bases, byteOffset: planned.count * 16)
        }
        let plannedTime = clock.now
        let comm = communicator.stream
        // Gather every chunk's rows first (cheap, and the first dispatch can start at once).
        // FP8 dispatch: E4M3 codes [rows, d] and one fp32 scale per 1×128 block, quantized in the gather.
        let fp8 = dispatchFormat == .fp8, blocks = (d + 127) / 128
        let sendCodes = fp8 ? try buffer("sendCodes", bytes: sent * d) : sendX
        let sendScales = fp8 ? try buffer("sendScales", bytes: sent * blocks * 4) : sendX
        let receiveCodes = fp8 ? try buffer("receiveCodes", bytes: received * d) : receiveX
        let receiveScales = fp8 ? try buffer("receiveScales", bytes: received * blocks * 4) : receiveX
        for (chunk, item) in dispatched.enumerated() {
            let index = sendIndexBuffer.address + UInt64(item.sendBase * 4)
            if fp8 {
                try kernels.enqueuePackFP8Rows(
                    input: input, index: index, rows: item.sentRows, width: d,
                    codes: sendCodes.address + UInt64(item.sendBase * d),
                    scales: sendScales.address + UInt64(item.sendBase * blocks * 4), stream: stream)
            } else {
                try kernels.enqueueCombine(
                    rows: input, position: index, scores: 0, choices: 1, width: d, extra: 0, count: item.sentRows,
                    out: sendX.address + UInt64(item.sendBase * d * 2), stream: stream)
            }
            try event("packed\(chunk)").record(on: stream)
        }
        func dispatch(_ chunk: Int) throws {
            let item = dispatched[chunk]
            try comm.wait(for: event("packed\(chunk)"))
            if fp8 {
                try exchangeRows(send: sendCodes, sendBase: item.sendBase, sendCounts: item.sendCounts,
                                 receive: receiveCodes, receiveBase: item.receiveBase, receiveCounts: item.receiveCounts,
                                 width: d, dtype: .uint8)
                try exchangeRows(send: sendScales, sendBase: item.sendBase, sendCounts: item.sendCounts,
                                 receive: receiveScales, receiveBase: item.receiveBase,
                                 receiveCounts: item.receiveCounts, width: blocks, dtype: .float32)
            } else {
                try exchangeRows(send: sendX, sendBase: item.sendBase, sendCounts: item.sendCounts,
                                 receive: receiveX, receiveBase: item.receiveBase, receiveCounts: item.receiveCounts,
                                 width: d, dtype: .bfloat16)
            }
            try exchangeRows(send: sendSlotsBuffer, sendBase: item.sendBase, sendCounts: item.sendCounts,
                             receive: receiveSlots, receiveBase: item.receiveBase, receiveCounts: item.receiveCounts,
                             width: K, dtype: .int32)
            try exchangeRows(send: sendScoresBuffer, sendBase: item.sendBase, sendCounts: item.sendCounts,
                             receive: receiveScores, receiveBase: item.receiveBase, receiveCounts: item.receiveCounts,
                             width: K, dtype: .float32)
            try event("dispatched\(chunk)").record(on: comm)
        }
        func compute(_ chunk: Int) throws {
            let item = dispatched[chunk]
            try stream.wait(for: event("dispatched\(chunk)"))
            if fp8 {
                try kernels.enqueueUnpackFP8Rows(
                    codes: receiveCodes.address + UInt64(item.receiveBase * d),
                    scales: receiveScales.address + UInt64(item.receiveBase * blocks * 4), rows: item.receivedRows,
                    width: d, out: receiveX.address + UInt64(item.receiveBase * d * 2), stream: stream)
            }
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
                             receive: returned, receiveBase: item.sendBase, receiveCounts: item.sendCounts,
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
        hostTimes = HostTimes(routingWait: routed - start, planning: plannedTime - routed, enqueue: clock.now - plannedTime)
        lastPass = GPUExpertParallelPass(
            tokens: tokens, output: output, routing: routing, chunks: dispatched, mergedChunks: planned.count, rank: rank)
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
