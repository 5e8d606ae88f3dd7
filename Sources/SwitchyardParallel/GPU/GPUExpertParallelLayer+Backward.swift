import Switchyard
import SwitchyardCUDA

extension GPUExpertParallelLayer {
    /// Runs this rank's part of the backward pass of `pass` (this layer's latest forward) from dO [T, d] bf16 at
    /// `outputGradient`; `input` is the same X as in forward. Every rank must call it at the same time. The
    /// gradients are complete once `stream` is (the host waits only inside the all-reduce of a host-staged
    /// communicator).
    public func backward(
        _ pass: GPUExpertParallelPass, outputGradient: UInt64, input: UInt64, stream: CUDAStream
    ) throws -> GPUExpertParallelGradients {
        guard pass === lastPass else {
            throw SwitchyardError(.invalidConfiguration, "backward takes the layer's latest forward pass (a later forward reused its buffers)")
        }
        let c = config, K = c.topK, d = c.hidden, E = c.experts
        let T = pass.tokens
        let sent = pass.chunks.reduce(0) { $0 + $1.sentRows }, received = pass.chunks.reduce(0) { $0 + $1.receivedRows }
        let mostReceived = pass.chunks.map(\.receivedRows).max() ?? 0
        if gradientBuffers.map({ $0.capacity < mostReceived }) ?? true {
            gradientBuffers = try GPUGradients(layer: experts, capacity: mostReceived)
            if poisonsBuffers { try gradientBuffers?.poison() }
        }
        let g = gradientBuffers!
        // With several chunks, each chunk's dH and A′ go to pass-wide buffers (K positions a received row at most) and
        // the weight gradients run once over every chunk's rows (a merged plan); with one, the expert layer runs them.
        let merged = chunks > 1, n = c.intermediate, positions = received * K
        let hiddenAll = merged ? try buffer("hiddenGradientAll", bytes: positions * 2 * n * 2) : nil
        let scaledAll = merged ? try buffer("scaledActivationAll", bytes: positions * n * 2) : nil
        // Made here, before anything is enqueued: growing a buffer later would wait for the GPU.
        let localExperts = experts.config.experts
        let plan = merged
            ? GPUMoELayer.MergedPlan(
                offsets: try buffer("mergedOffsets", bytes: (localExperts + 1) * 4).address,
                position: try buffer("mergedPosition", bytes: positions * 4).address,
                row: try buffer("mergedRow", bytes: positions * 4).address)
            : nil
        let sendG = try buffer("sendG", bytes: sent * d * 2), receiveG = try buffer("receiveG", bytes: received * d * 2)
        let rowsDX = try buffer("rowsDX", bytes: received * d * 2), rowsDS = try buffer("rowsDS", bytes: received * K * 4)
        let returnedDX = try buffer("returnedDX", bytes: sent * d * 2)
        let returnedDS = try buffer("returnedDS", bytes: sent * K * 4)
        let dX = try buffer("dX", bytes: T * d * 2), dWr = try buffer("dWr", bytes: d * E * 4)
        let sendIndex = try buffer("sendIndex", bytes: sent * 4), rowsOfToken = try buffer("rowsOfToken", bytes: T * K * 4)
        let receiveX = try buffer("receiveX", bytes: received * d * 2)
        let comm = communicator.stream

        for (chunk, item) in pass.chunks.enumerated() {
            try kernels.enqueueCombine(
                rows: outputGradient, position: sendIndex.address + UInt64(item.sendBase * 4), scores: 0, choices: 1,
                width: d, extra: 0, count: item.sentRows, out: sendG.address + UInt64(item.sendBase * d * 2), stream: stream)
            try event("packed\(chunk)").record(on: stream)
        }
        func dispatch(_ chunk: Int) throws {
            let item = pass.chunks[chunk]
            try comm.wait(for: event("packed\(chunk)"))
            try exchangeRows(send: sendG, sendBase: item.sendBase, sendCounts: item.sendCounts, receive: receiveG,
                             receiveBase: item.receiveBase, receiveCounts: item.receiveCounts, width: d, dtype: .bfloat16)
            try event("dispatched\(chunk)").record(on: comm)
        }
        func compute(_ chunk: Int) throws {
            let item = pass.chunks[chunk], rows = item.receivedRows
            try stream.wait(for: event("dispatched\(chunk)"))
            try experts.backwardRouted(
                outputGradient: receiveG.address + UInt64(item.receiveBase * d * 2),
                input: receiveX.address + UInt64(item.receiveBase * d * 2), rows: rows, workspace: workspaces[chunk],
                gradients: g,
                hiddenGradient: hiddenAll.map { $0.address + UInt64(item.receiveBase * K * 2 * n * 2) },
                scaledActivation: scaledAll.map { $0.address + UInt64(item.receiveBase * K * n * 2) },
                weightGradients: !merged, stream: stream)
            // The next chunk reuses the gradient buffers of the rows: copy this one's out.
            try stream.copy(from: g.input.address, to: rowsDX.address + UInt64(item.receiveBase * d * 2), bytes: rows * d * 2)
            try stream.copy(from: g.scores.address, to: rowsDS.address + UInt64(item.receiveBase * K * 4), bytes: rows * K * 4)
            try event("computed\(chunk)").record(on: stream)
        }
        func combine(_ chunk: Int) throws {
            let item = pass.chunks[chunk]
            try comm.wait(for: event("computed\(chunk)"))
            try exchangeRows(send: rowsDX, sendBase: item.receiveBase, sendCounts: item.receiveCounts, receive: returnedDX,
                             receiveBase: item.sendBase, receiveCounts: item.sendCounts, width: d, dtype: .bfloat16)
            try exchangeRows(send: rowsDS, sendBase: item.receiveBase, sendCounts: item.receiveCounts, receive: returnedDS,
                             receiveBase: item.sendBase, receiveCounts: item.sendCounts, width: K, dtype: .float32)
            try event("combined\(chunk)").record(on: comm)
        }
        // The router's backward needs every chunk's dS, so the source-side finish runs once, after the last combine
        // (the communication stream is in order).
        try pipeline(dispatch: dispatch, compute: compute, combine: combine, finish: { _ in })
        if let hiddenAll, let scaledAll, let plan {  // beside the last chunk's combine
            let tables = try buffer("mergeTables", bytes: chunks * 24).address, m = pass.mergedChunks
            try kernels.enqueueMergePlans(
                offsetsOf: tables, gatherOf: tables + UInt64(m * 8), positionBase: tables + UInt64(m * 16),
                rowBase: tables + UInt64(m * 20), chunks: m, experts: localExperts, into: plan, stream: stream)
            try experts.weightGradients(
                plan: plan, hiddenGradient: hiddenAll.address, scaledActivation: scaledAll.address,
                outputGradient: receiveG.address, input: receiveX.address, gradients: g, stream: stream)
        }
        try stream.wait(for: event("combined\(chunks - 1)"))
        let routing = try routerWorkspace(tokens: T)
        try router.backward(
            input: input, tokens: T, scoreGradient: returnedDS.address,
            position: try buffer("scorePosition", bytes: T * K * 4).address, workspace: routing, stream: stream)
        try kernels.enqueueCombine(
            rows: returnedDX.address, position: rowsOfToken.address, scores: 0, choices: K, width: d,
            extra: routing.inputGradient.address, count: T, out: dX.address, stream: stream)
        // dWr = Σ over ranks of each rank's Xᵀ·dZ.
        try event("routerDone").record(on: stream)
        try comm.wait(for: event("routerDone"))
        try communicator.allReduce(
            send: TensorView(address: UInt(routing.weightGradient.address), shape: [d * E], dtype: .float32, device: .cuda),
            receive: TensorView(address: UInt(dWr.address), shape: [d * E], dtype: .float32, device: .cuda),
            count: d * E, op: .sum)
        try event("reduced").record(on: comm)
        try stream.wait(for: event("reduced"))
        return GPUExpertParallelGradients(input: dX, scores: routing.scoreGradient, router: dWr, w1: g.w1, w2: g.w2)
    }
}
