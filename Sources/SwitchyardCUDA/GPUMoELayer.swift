import Foundation
import Switchyard
import SwitchyardFormats

/// One MoE layer resident on a GPU: bf16 weights packed K-major for the wgmma kernels.
///
/// Packing (done once, on the device): Wr → [E, d]; W1 → [E, 2n, d] with rows in blocks of 64 gate then the
/// matching 64 up columns (so each 128-wide output tile holds both halves for the SwiGLU epilogue); W2 → [E, d, n].
///
/// ```swift
/// let layer = try GPUMoELayer(kernels: kernels, weights: weights)
/// let workspace = try GPUWorkspace(layer: layer, capacity: 4096)
/// try layer.forward(input: x.address, tokens: 4096, workspace: workspace, stream: stream)
/// ```
public final class GPUMoELayer: @unchecked Sendable {
    public let config: MoEConfig
    public let kernels: GPUKernels
    let router: DeviceBuffer     // [E, d] bf16
    let routerBias: DeviceBuffer // [E] fp32
    let w1: DeviceBuffer         // [E, 2n, d] bf16, interleaved blocks of upWidth/2 gate then upWidth/2 up rows
    let w2: DeviceBuffer         // [E, d, n] bf16
    /// Canonical layouts, the K-major operands of the backward GEMMs: W1 [E, d, 2n], W2 [E, n, d], Wr [d, E′]
    /// with E′ = E rounded up to 64 (zero columns).
    let w1Canonical: DeviceBuffer
    let w2Canonical: DeviceBuffer
    let routerPadded: DeviceBuffer
    /// Whether the backward pass runs the weight gradients on a second stream beside dX's chain (forked from and
    /// joined to the caller's stream by events). `SWITCHYARD_OVERLAP=0` in the environment keeps everything on the
    /// caller's stream; with the default stream (nil) nothing forks: a second stream would wait for it anyway.
    public var overlapsBackward = ProcessInfo.processInfo.environment["SWITCHYARD_OVERLAP"] != "0"

    /// The second stream and its fork and join events, made together on first use.
    struct SideStream {
        let stream: CUDAStream
        let fork: CUDAEvent, join: CUDAEvent
    }
    private var side: SideStream?

    /// The side stream when the backward pass overlaps (see ``overlapsBackward``), else nil.
    func sideStream(beside stream: CUDAStream?) throws -> SideStream? {
        guard overlapsBackward, stream != nil else { return nil }
        if side == nil {
            let context = kernels.context
            side = SideStream(stream: try CUDAStream(context: context), fork: try CUDAEvent(context: context, timing: false),
                              join: try CUDAEvent(context: context, timing: false))
        }
        return side
    }

    /// Output tile width of the up-projection: 256 when n is a multiple of 128 (gate and up halves of 128), else 128.
    var upWidth: Int { config.intermediate % 128 == 0 ? 256 : 128 }
    /// Output tile width of the dH kernel (N = n).
    var dHiddenWidth: Int { config.intermediate % 256 == 0 ? 256 : 128 }
    /// E rounded up to a multiple of 64: the width of dZ and of the padded router weight.
    var paddedExperts: Int { (config.experts + 63) / 64 * 64 }

    /// Throws ``SwitchyardError`` for layers the GPU kernels do not cover (the message says what is supported).
    public static func requireSupported(_ config: MoEConfig) throws {
        func unsupported(_ message: String) -> SwitchyardError { SwitchyardError(.unsupported, message) }
        guard config.activation == .swiglu else {
            throw unsupported("the GPU kernels implement SwiGLU experts; \(config.activation.rawValue) runs on the CPU")
        }
        guard config.hidden % 64 == 0, config.intermediate % 64 == 0 else {
            throw unsupported("the GPU kernels need hidden (d = \(config.hidden)) and intermediate (n = \(config.intermediate)) to be multiples of 64")
        }
        guard config.experts <= GPUKernels.maxExperts else {
            throw unsupported("the GPU router supports up to \(GPUKernels.maxExperts) experts, got \(config.experts)")
        }
        guard config.topK <= 32 else { throw unsupported("the GPU router supports top-K ≤ 32, got \(config.topK)") }
        guard config.router.capacityFactor == nil, config.router.tokenRounding == nil else {
            throw unsupported("capacity dropping and token rounding run on the CPU path only")
        }
        guard config.sharedExperts == 0 else { throw unsupported("shared experts run on the CPU path only") }
        if case .sigmoidBias(let groups, _, _) = config.router.kind, groups > 32 {
            throw unsupported("the GPU router supports up to 32 expert groups, got \(groups)")
        }
    }

    /// Uploads host weights (rounded to bf16) and packs them on the device.
    public convenience init(kernels: GPUKernels, weights: MoEWeights<Float>) throws {
        let c = weights.config
        try GPUMoELayer.requireSupported(c)
        let context = kernels.context
        func upload(_ tensor: Tensor<Float>) throws -> DeviceBuffer {
            let buffer = try context.allocate(bytes: max(tensor.count, 1) * 2)
            try buffer.upload(tensor.scalars.map { BFloat16($0).bitPattern })
            return buffer
        }
        let router = try upload(weights.router), w1 = try upload(weights.w1), w2 = try upload(weights.w2)
        try self.init(kernels: kernels, config: c, router: router.address, routerBias: weights.routerBias.scalars,
                      w1: w1.address, w2: w2.address)
        try context.synchronize()
    }

    /// Packs caller-owned device weights in Switchyard's canonical layout (bf16 Wr [d, E], W1 [E, d, 2n],
    /// W2 [E, n, d]) into the kernels' layout; the caller's buffers are only read, during this call. The score-correction
    /// bias (E values, zeros for routers without one) comes from the host.
    public init(kernels: GPUKernels, config c: MoEConfig, router: UInt64, routerBias: [Float], w1: UInt64, w2: UInt64) throws {
        guard routerBias.count == c.experts else {
            throw SwitchyardError(.shapeMismatch, "router bias must hold E = \(c.experts) values, got \(routerBias.count)")
        }
        try GPUMoELayer.requireSupported(c)
        self.config = c
        self.kernels = kernels
        let context = kernels.context
        let E = c.experts, d = c.hidden, n = c.intermediate
        func bf16Buffer(_ count: Int) throws -> DeviceBuffer { try context.allocate(bytes: max(count, 1) * 2) }
        self.router = try bf16Buffer(d * E)
        self.w1 = try bf16Buffer(E * d * 2 * n)
        self.w2 = try bf16Buffer(E * n * d)
        routerPadded = try bf16Buffer(d * ((E + 63) / 64 * 64))
        self.routerBias = try context.allocate(bytes: E * 4)
        try self.routerBias.upload(routerBias)
        w1Canonical = try GPUMoELayer.copied(kernels, w1, count: E * d * 2 * n)
        w2Canonical = try GPUMoELayer.copied(kernels, w2, count: E * n * d)
        try repack(router: router, stream: nil)
        try context.synchronize()
    }

    /// Fills the kernels' layouts from ``w1Canonical``, ``w2Canonical`` and `router` (bf16 [d, E], canonical):
    /// Wr → [E, d] and the zero-padded [d, E′]; W1 → [E, 2n, d] with rows in blocks of upWidth/2 gate then the
    /// matching upWidth/2 up columns; W2 → [E, d, n]. Used at init and after training updated the canonical weights.
    func repack(router source: UInt64, stream: CUDAStream?) throws {
        let c = config, d = c.hidden, n = c.intermediate, E = c.experts
        func pack(_ from: UInt64, groups: Int, rows: Int, columns: Int, interleave: Int, into out: DeviceBuffer) throws {
            var a = KernelArguments()
            a.append(from); a.append(Int32(rows)); a.append(Int32(columns)); a.append(Int32(interleave))
            a.append(out)
            try kernels.packRows.launch(grid: ((columns + 31) / 32, (rows + 31) / 32, groups), block: (32, 8, 1),
                                        stream: stream, arguments: a)
        }
        try pack(w1Canonical.address, groups: E, rows: d, columns: 2 * n, interleave: upWidth / 2, into: w1)
        try pack(w2Canonical.address, groups: E, rows: n, columns: d, interleave: 0, into: w2)
        try kernels.enqueuePackRouter(source: source, hidden: d, experts: E, into: router.address,
                                      padded: routerPadded.address, stream: stream)
    }

    /// A device copy of `count` bf16 values (a pad with no padding).
    private static func copied(_ kernels: GPUKernels, _ source: UInt64, count: Int) throws -> DeviceBuffer {
        let out = try kernels.context.allocate(bytes: max(count, 1) * 2)
        var args = KernelArguments()
        args.append(source); args.append(Int32(1)); args.append(Int32(count)); args.append(Int32(count)); args.append(out)
        try kernels.padColumns.launch(grid: (min((count + 255) / 256, 8192), 1, 1), block: (256, 1, 1), arguments: args)
        return out
    }

    /// Enqueues the whole forward pass on `stream`: router GEMM, top-K, dispatch metadata, up-projection with
    /// gather and SwiGLU, down-projection, combine. `input` is the device address of X, [tokens, d] bf16.
    /// Nothing here waits for the GPU or reads device memory on the host.
    public func forward(input: UInt64, tokens: Int, workspace w: GPUWorkspace, stream: CUDAStream?) throws {
        guard tokens <= w.capacity else {
            throw SwitchyardError(.shapeMismatch, "workspace holds \(w.capacity) tokens, asked for \(tokens)")
        }
        guard tokens > 0 else { return }
        try kernels.enqueueRouting(
            input: input, tokens: tokens, config: config, router: router.address, bias: routerBias.address,
            singleOffsets: w.singleOffsets.address, singleTileOffsets: w.singleTileOffsets.address, logits: w.logits.address,
            expertIndex: w.expertIndex.address, scores: w.scores.address, stream: stream)
        try enqueueExperts(input: input, tokens: tokens, workspace: w, stream: stream)
    }

    /// Enqueues the forward pass with the routing given instead of computed: `expertIndex` [rows, K] int32 (each
    /// in −1..<E, −1 = not served here) and `scores` [rows, K] fp32 are device addresses, copied into the workspace
    /// on `stream`. This is the expert side of the expert-parallel layer: rows arrive from other ranks with their
    /// choices. O [rows, d] = Σ_k s_k·Y_k over each row's served choices, ascending k (0 for a row with none).
    /// The logits are not computed.
    public func forwardRouted(
        input: UInt64, rows: Int, expertIndex: UInt64, scores: UInt64, workspace w: GPUWorkspace, stream: CUDAStream
    ) throws {
        guard rows <= w.capacity else {
            throw SwitchyardError(.shapeMismatch, "workspace holds \(w.capacity) rows, asked for \(rows)")
        }
        guard rows > 0 else { return }
        let bytes = rows * config.topK * 4
        try stream.copy(from: expertIndex, to: w.expertIndex.address, bytes: bytes)
        try stream.copy(from: scores, to: w.scores.address, bytes: bytes)
        try enqueueExperts(input: input, tokens: rows, workspace: w, stream: stream)
    }

    /// Everything after routing: dispatch metadata, up-projection with gather and SwiGLU, down-projection and
    /// combine in the workspace's column chunks. Reads the choices and scores from the workspace.
    private func enqueueExperts(input: UInt64, tokens: Int, workspace w: GPUWorkspace, stream: CUDAStream?) throws {
        let c = config
        let E = c.experts, K = c.topK, d = c.hidden, n = c.intermediate
        let sms = kernels.persistentBlocks
        try enqueueDispatch(tokens: tokens, workspace: w, stream: stream)

        var a = KernelArguments()
        a.append(input); a.append(w.gatherIndex); a.append(w1); a.append(Int32(2 * n)); a.append(Int32(d))
        a.append(w.offsets); a.append(w.tileOffsets); a.append(Int32(E)); a.append(w.hidden)
        if w.keepsActivation { a.append(w.activation) } else { a.append(UInt64(0)) }  // 0: the epilogue writes no A
        let up = try kernels.groupedGEMM(kernels.gemmUpSwiGLU, kernels.gemmUpSwiGLUTMA, width: upWidth,
                                         weights: w1.address, groups: E, n: 2 * n, k: d)
        try up.launch(blocks: sms, stream: stream, arguments: a)

        // Down-projection and combine, one column chunk of d at a time, so that Y holds at most w.chunkColumns of
        // each row: every chunk's GEMM runs over the whole plan (each expert's rows in full, A by position, no
        // gather), and its combine writes the chunk's columns of O.
        for columns in w.columnChunks {
            // A workspace without A: the down-projection computes A = SwiGLU(H) as it loads H (the same bits).
            let down = try kernels.bf16GEMM(weights: w2.address, groups: E, n: d, k: n, columns: columns,
                                            output: (w.expertOutput.address, tokens * K),
                                            input: w.keepsActivation ? (w.activation.address, tokens * K) : nil,
                                            activationFromHidden: !w.keepsActivation)
            a = KernelArguments()
            a.append(w.keepsActivation ? w.activation : w.hidden); a.append(UInt64(0))
            a.append(w2.address + UInt64(columns.lowerBound * n * 2))
            a.append(Int32(columns.count)); a.append(Int32(n))
            a.append(w.offsets); a.append(w.tileOffsets); a.append(Int32(E)); a.append(w.expertOutput)
            a.append(UInt64(0)); a.append(Int32(d))
            try down.launch(blocks: sms, stream: stream, arguments: a)
            a = KernelArguments()
            a.append(w.expertOutput); a.append(w.positionOfAssignment); a.append(w.scores); a.append(Int32(K))
            a.append(Int32(columns.count)); a.append(UInt64(0))
            a.append(w.output.address + UInt64(columns.lowerBound * 2)); a.append(Int32(d))
            try kernels.combine.launch(grid: (tokens, 1, 1), block: (128, 1, 1), stream: stream, arguments: a)
        }
    }

    /// Enqueues the backward pass after ``forward(input:tokens:workspace:stream:)`` ran on the same workspace:
    /// dH kernel (dO gathered, SwiGLU backward and dS partials fused), router backward (dS → dZ), dX (grouped GEMM,
    /// then a deterministic sum over each token's K rows plus dZ·Wrᵀ), and the weight gradients dW2, dW1, dWr as
    /// grouped GEMMs reducing over each expert's rows. Uses only X, H and the routing metadata from forward.
    /// `outputGradient`: dO [T, d] bf16. Results land in `gradients` (dW1, dW2 in its ``GPUGradients/weightPrecision``,
    /// fp32 dWr, bf16 dX, fp32 dS).
    public func backward(
        outputGradient: UInt64, input: UInt64, tokens: Int, workspace w: GPUWorkspace, gradients g: GPUGradients,
        stream: CUDAStream?
    ) throws {
        try enqueueBackward(outputGradient: outputGradient, input: input, tokens: tokens, workspace: w, gradients: g,
                            stream: stream, routed: false)
    }

    /// The backward pass after ``forwardRouted(input:rows:expertIndex:scores:workspace:stream:)``: the experts'
    /// part only. dX [rows, d] (bf16) = Σ_k over each row's served choices of dH_k·W1ᵀ (its partial, no router term),
    /// dS [rows, K] (fp32, 0 for choices served elsewhere), dW1 and dW2 over the rows; dWr is not computed (the
    /// router's backward runs where the rows came from). `outputGradient`: dO [rows, d] bf16, row for row.
    ///
    /// `hiddenGradient` and `scaledActivation`, when given, take dH [positions, 2n] and A′ [positions, n] instead of
    /// `gradients` (bf16; positions = the rows' served choices, in the workspace's plan order), and with
    /// `weightGradients` false dW1 and dW2 are left to the caller (``weightGradients(plan:hiddenGradient:scaledActivation:outputGradient:input:gradients:stream:)``
    /// over several chunks' rows at once).
    public func backwardRouted(
        outputGradient: UInt64, input: UInt64, rows: Int, workspace w: GPUWorkspace, gradients g: GPUGradients,
        hiddenGradient: UInt64? = nil, scaledActivation: UInt64? = nil, weightGradients: Bool = true,
        stream: CUDAStream
    ) throws {
        try enqueueBackward(outputGradient: outputGradient, input: input, tokens: rows, workspace: w, gradients: g,
                            stream: stream, routed: true,
                            targets: (hiddenGradient ?? g.hiddenGradient.address,
                                      scaledActivation ?? g.scaledActivation.address, weightGradients))
    }

    /// A merged dispatch plan over several chunks' rows: for each expert, its rows of every chunk in chunk order
    /// (``GPUKernels/enqueueMergePlans(chunks:experts:into:stream:)`` builds it). `offsets` [E + 1]; per merged row,
    /// `position` (its index into dH and A′) and `row` (its index into X and dO).
    public struct MergedPlan: Sendable {
        public var offsets: UInt64, position: UInt64, row: UInt64
        public init(offsets: UInt64, position: UInt64, row: UInt64) {
            self.offsets = offsets
            self.position = position
            self.row = row
        }
    }

    /// dW2[e] = A′ᵀ·dO and dW1[e] = Xᵀ·dH over a merged plan's rows (both operands gathered), into `gradients`'
    /// w1 and w2: the weight gradients of several token chunks in one pass each, fixed order, nothing accumulated.
    public func weightGradients(
        plan: MergedPlan, hiddenGradient: UInt64, scaledActivation: UInt64, outputGradient: UInt64, input: UInt64,
        gradients g: GPUGradients, stream: CUDAStream
    ) throws {
        let E = config.experts, d = config.hidden, n = config.intermediate
        try kernels.enqueueWeightGradient(
            a: scaledActivation, lda: n, gatherA: plan.position, b: outputGradient, ldb: d, gatherB: plan.row, m: n, n: d,
            groups: E, offsets: plan.offsets, out: g.w2.address, ldOut: d, precision: g.weightPrecision, stream: stream)
        try kernels.enqueueWeightGradient(
            a: input, lda: d, gatherA: plan.row, b: hiddenGradient, ldb: 2 * n, gatherB: plan.position, m: d, n: 2 * n,
            groups: E, offsets: plan.offsets, out: g.w1.address, ldOut: 2 * n, precision: g.weightPrecision,
            stream: stream)
    }

    /// `targets`: where dH and A′ go, and whether the weight gradients run here.
    private func enqueueBackward(
        outputGradient: UInt64, input: UInt64, tokens: Int, workspace w: GPUWorkspace, gradients g: GPUGradients,
        stream: CUDAStream?, routed: Bool, targets: (hiddenGradient: UInt64, scaledActivation: UInt64, weights: Bool)? = nil
    ) throws {
        let c = config
        guard tokens <= w.capacity, tokens <= g.capacity else {
            throw SwitchyardError(.shapeMismatch, "workspaces hold \(min(w.capacity, g.capacity)) tokens, asked for \(tokens)")
        }
        guard g.chunkColumns >= w.chunkColumns else {
            throw SwitchyardError(.shapeMismatch, "the gradients' buffers hold column chunks of \(g.chunkColumns), the workspace uses \(w.chunkColumns); make both with the same chunkColumns")
        }
        let E = c.experts, K = c.topK, d = c.hidden, n = c.intermediate, Ep = paddedExperts
        let dH = targets?.hiddenGradient ?? g.hiddenGradient.address
        let scaled = targets?.scaledActivation ?? g.scaledActivation.address
        let computesWeights = targets?.weights ?? true
        guard tokens > 0 else {
            for buffer in computesWeights ? [g.w1, g.w2, g.router] : [g.router] { try buffer.fill(byte: 0) }
            return
        }
        let sms = kernels.persistentBlocks
        let nTiles = (n + dHiddenWidth - 1) / dHiddenWidth

        var a = KernelArguments()
        a.append(outputGradient); a.append(w.gatherIndex); a.append(w2Canonical); a.append(Int32(n)); a.append(Int32(d))
        a.append(w.offsets); a.append(w.tileOffsets); a.append(Int32(E)); a.append(w.hidden); a.append(w.scoreOfPosition)
        a.append(dH); a.append(scaled); a.append(g.scorePartials)
        // The warp-specialized dH (v12, H by TMA through the ring) where it applies, else the one-role kernel: the
        // same arguments and results.
        let dHidden = try kernels.warpSpecializedDHidden(
            weights: w2Canonical.address, experts: E, n: n, d: d, hidden: (w.hidden.address, tokens * K))
            ?? kernels.groupedGEMM(kernels.gemmDSwiGLU, kernels.gemmDSwiGLUTMA, width: dHiddenWidth,
                                   weights: w2Canonical.address, groups: E, n: n, k: d)
        try dHidden.launch(blocks: sms, stream: stream, arguments: a)

        if routed {
            // dS of each choice served here, summed over the dH kernel's tiles as the router backward sums them.
            a = KernelArguments()
            a.append(w.positionOfAssignment); a.append(g.scorePartials); a.append(Int32(nTiles)); a.append(Int32(tokens * K))
            a.append(g.scores)
            try kernels.scoreGradient.launch(grid: (min((tokens * K + 255) / 256, 4096), 1, 1), block: (256, 1, 1),
                                             stream: stream, arguments: a)
        } else {
            try kernels.enqueueRouterBackward(
                tokens: tokens, config: c, logits: w.logits.address, expertIndex: w.expertIndex.address,
                scores: w.scores.address, positionOfAssignment: w.positionOfAssignment.address,
                scorePartials: g.scorePartials.address, tiles: nTiles, counts: w.counts.address,
                scoreGradient: g.scores.address, logitGradient: g.logitGradient.address, paddedExperts: Ep, stream: stream)
        }

        // The weight gradients (dW2, dW1, dWr: tensor-bound) need nothing of dX's chain (its rows GEMM, the router's
        // dZ·Wrᵀ, the HBM-bound sum over each token's K rows): on a stream of their own they overlap it. Both read
        // only what dH and the router backward wrote before this point.
        let side = try sideStream(beside: stream)
        if let side {
            try side.fork.record(on: stream)
            try side.stream.wait(for: side.fork)
        }
        let weightStream = side?.stream ?? stream
        // dH and A′ in this layer's gradient buffers (capacity·K rows) may be read by TMA boxes that run past the last
        // position; buffers a caller passed in (`targets`) may end there, so those stay on cp.async.
        let tmaRows = targets == nil ? tokens * K : 0
        func weightGrad(a operandA: UInt64, lda: Int, gatherA: UInt64, b operandB: UInt64, ldb: Int, gatherB: UInt64,
                        m: Int, n: Int, out: DeviceBuffer, ldOut: Int) throws {
            guard computesWeights else { return }
            try kernels.enqueueWeightGradient(
                a: operandA, lda: lda, gatherA: gatherA, b: operandB, ldb: ldb, gatherB: gatherB, m: m, n: n, groups: E,
                offsets: w.offsets.address, out: out.address, ldOut: ldOut, rows: tmaRows, precision: g.weightPrecision,
                stream: weightStream)
        }
        // dW2[e] = A′ᵀ · dO[gather]   (M = n, N = d)
        try weightGrad(a: scaled, lda: n, gatherA: 0, b: outputGradient, ldb: d,
                       gatherB: w.gatherIndex.address, m: n, n: d, out: g.w2, ldOut: d)
        // dW1[e] = X[gather]ᵀ · dH    (M = d, N = 2n)
        try weightGrad(a: input, lda: d, gatherA: w.gatherIndex.address, b: dH, ldb: 2 * n,
                       gatherB: 0, m: d, n: 2 * n, out: g.w1, ldOut: 2 * n)
        if !routed {
            try kernels.enqueueRouterWeightGradient(
                input: input, logitGradient: g.logitGradient.address, tokens: tokens, hidden: d, experts: E,
                paddedExperts: Ep, splits: g.routerSplits(tokens: tokens), splitOffsets: g.routerSplitOffsets.address,
                partials: g.routerPartials.address, out: g.router.address, stream: weightStream)
        }

        // dX, one column chunk at a time (the forward's chunks): rows dH · W1ᵀ of the chunk's columns into the (now
        // free) expert-output buffer, the router's dZ · Wrᵀ of the same columns, then the sum over each token's K
        // rows into those columns of dX. A by TMA (where chosen) reads dH by position in boxes that may run past the
        // last one: only from this layer's own buffer, as the weight gradients' TMA above (`tmaRows`).
        for columns in w.columnChunks {
            let dRows = try kernels.bf16GEMM(weights: w1Canonical.address, groups: E, n: d, k: 2 * n, columns: columns,
                                             output: (w.expertOutput.address, tokens * K),
                                             input: tmaRows > 0 ? (dH, tmaRows) : nil)
            a = KernelArguments()
            a.append(dH); a.append(UInt64(0)); a.append(w1Canonical.address + UInt64(columns.lowerBound * 2 * n * 2))
            a.append(Int32(columns.count)); a.append(Int32(2 * n)); a.append(w.offsets); a.append(w.tileOffsets)
            a.append(Int32(E)); a.append(w.expertOutput); a.append(UInt64(0)); a.append(Int32(d))
            try dRows.launch(blocks: sms, stream: stream, arguments: a)
            if !routed {
                try kernels.enqueueRouterInputGradient(
                    logitGradient: g.logitGradient.address, tokens: tokens, hidden: d, columns: columns,
                    paddedExperts: Ep, routerPadded: routerPadded.address, offsets: g.routerOffsets.address,
                    tileOffsets: g.routerTileOffsets.address, setsOffsets: columns == w.columnChunks.first,
                    out: g.routerInputGradient.address, bf16: true, stream: stream)
            }
            a = KernelArguments()
            a.append(w.expertOutput); a.append(w.positionOfAssignment); a.append(UInt64(0)); a.append(Int32(K))
            a.append(Int32(columns.count)); a.append(routed ? UInt64(0) : g.routerInputGradient.address)
            a.append(g.input.address + UInt64(columns.lowerBound * 2)); a.append(Int32(d))
            try kernels.combineBF16Extra.launch(grid: (tokens, 1, 1), block: (128, 1, 1), stream: stream,
                                                arguments: a)
        }
        if let side, let stream {
            try side.join.record(on: side.stream)
            try stream.wait(for: side.join)
        }
    }

    /// The dispatch plan of the pass's `tokens`·K assignments, all on the device: counts [E], offsets and tile
    /// offsets [E + 1], and the stable order by expert: the token each position gathers, the assignment and score of
    /// each position, and the position of each assignment. The workspace's per-block counts and local ranks are
    /// scratch.
    func enqueueDispatch(tokens: Int, workspace w: GPUWorkspace, stream: CUDAStream?) throws {
        let E = config.experts, K = config.topK, assignments = tokens * K
        let blocks = (assignments + GPUKernels.routeChunk - 1) / GPUKernels.routeChunk
        var a = KernelArguments()
        a.append(w.expertIndex); a.append(Int32(assignments)); a.append(Int32(E)); a.append(Int32(blocks))
        a.append(w.chunkCounts); a.append(w.localRank)
        try kernels.routeCount.launch(grid: (blocks, 1, 1), block: (GPUKernels.routeChunk, 1, 1), sharedMemoryBytes: E * 4,
                                      stream: stream, arguments: a)
        a = KernelArguments()
        a.append(w.chunkCounts); a.append(Int32(blocks)); a.append(w.counts)
        try kernels.routeScan.launch(grid: (E, 1, 1), block: (256, 1, 1), stream: stream, arguments: a)
        a = KernelArguments()
        a.append(w.counts); a.append(Int32(E)); a.append(Int32(GPUKernels.tileRows)); a.append(w.offsets)
        a.append(w.tileOffsets)
        try kernels.routeOffsets.launch(grid: (1, 1, 1), block: (32, 1, 1), stream: stream, arguments: a)
        a = KernelArguments()
        a.append(w.expertIndex); a.append(w.scores); a.append(Int32(assignments)); a.append(Int32(K)); a.append(Int32(blocks))
        a.append(w.chunkCounts); a.append(w.localRank); a.append(w.offsets); a.append(w.gatherIndex)
        a.append(w.assignmentOfPosition); a.append(w.scoreOfPosition); a.append(w.positionOfAssignment)
        try kernels.routeScatter.launch(grid: (blocks, 1, 1), block: (GPUKernels.routeChunk, 1, 1), stream: stream,
                                        arguments: a)
    }
}

/// Device buffers for a forward pass of up to `capacity` tokens. Allocate once and reuse: the forward pass itself
/// allocates nothing.
///
/// The down-projection output Y (T·K·d values, the largest activation) exists for one column chunk of d at a time:
/// `chunkColumns` columns, by default the fewest chunks of ≤ 1 GiB of Y (``ColumnChunks``). Every chunk uses the
/// whole dispatch plan; the backward pass's dX runs in the same chunks.
public final class GPUWorkspace: @unchecked Sendable {
    public let capacity: Int
    /// Columns per chunk of the down-projection, combine and dX (= d when not chunked; the last chunk may be
    /// narrower).
    public let chunkColumns: Int
    /// The column ranges of d the passes run in, ascending.
    public let columnChunks: [Range<Int>]
    /// Whether the forward pass writes A [rows, n]; false: the down-projection computes it from H.
    public let keepsActivation: Bool
    let logits, expertIndex, scores, chunkCounts, localRank, counts, offsets, tileOffsets: DeviceBuffer
    let gatherIndex, assignmentOfPosition, scoreOfPosition, positionOfAssignment: DeviceBuffer
    let singleOffsets, singleTileOffsets: DeviceBuffer
    /// H [rows, 2n] (kept for backward), A [rows, n], Y [rows, chunkColumns] (transient), O [T, d]; all bf16.
    public let hidden, activation, expertOutput, output: DeviceBuffer
    /// Bytes of device memory this workspace holds.
    public let byteCount: Int

    /// The whole plan's offsets [E + 1] and gather index (the row of each position), for merging several
    /// workspaces' plans (``GPUKernels/enqueueMergePlans(offsetsOf:gatherOf:positionBase:rowBase:chunks:experts:into:stream:)``).
    public var planOffsets: UInt64 { offsets.address }
    public var planGather: UInt64 { gatherIndex.address }

    /// - Parameter chunkColumns: columns of d per chunk of Y (nil: ``ColumnChunks``' default, ≤ 1 GiB of Y; else
    ///   rounded up to a multiple of 64).
    /// - Parameter keepsActivation: false: no A buffer; the up-projection writes H only and the down-projection
    ///   computes A from H as it loads it (`sy_gemm_bf16_coop_mc_ts_ah`), for ≈ 14–35% more forward time
    ///   (bench/results/2026-12-05-H100-a-from-h-bbf5b28). Only where ``supportsActivationFree(layer:capacity:chunkColumns:)``;
    ///   throws ``SwitchyardError`` otherwise.
    public init(layer: GPUMoELayer, capacity: Int, chunkColumns requested: Int? = nil,
                keepsActivation: Bool = true) throws {
        let c = layer.config
        let ctx = layer.kernels.context
        self.capacity = capacity
        chunkColumns = ColumnChunks.columns(topK: c.topK, hidden: c.hidden, capacity: capacity, requested: requested)
        columnChunks = ColumnChunks.ranges(hidden: c.hidden, columns: chunkColumns)
        self.keepsActivation = keepsActivation
        guard keepsActivation || Self.activationFree(layer: layer, columnChunks: columnChunks) else {
            throw SwitchyardError(
                .unsupported,
                "a forward that keeps no A needs column chunks of a multiple of 256, at most "
                    + "\(GPUKernels.multicastMaxGroups) experts and weights by TMA; got chunks of \(chunkColumns) "
                    + "columns of d = \(c.hidden), \(c.experts) experts")
        }
        // The sizes come from ForwardWorkspaceLayout, which memory budgets (ColumnChunks) are planned with.
        let layout = ForwardWorkspaceLayout(hidden: c.hidden, intermediate: c.intermediate, experts: c.experts,
                                            topK: c.topK, capacity: capacity, chunkColumns: chunkColumns,
                                            keepsActivation: keepsActivation)
        func allocate(_ bytes: Int) throws -> DeviceBuffer { try ctx.allocate(bytes: max(bytes, 1)) }
        logits = try allocate(layout.logits)
        expertIndex = try allocate(layout.expertIndex)
        scores = try allocate(layout.scores)
        chunkCounts = try allocate(layout.chunkCounts)
        localRank = try allocate(layout.localRank)
        counts = try allocate(layout.counts)
        offsets = try allocate(layout.offsets)
        tileOffsets = try allocate(layout.tileOffsets)
        gatherIndex = try allocate(layout.gatherIndex)
        assignmentOfPosition = try allocate(layout.assignmentOfPosition)
        scoreOfPosition = try allocate(layout.scoreOfPosition)
        positionOfAssignment = try allocate(layout.positionOfAssignment)
        singleOffsets = try allocate(layout.singleOffsets)
        singleTileOffsets = try allocate(layout.singleTileOffsets)
        hidden = try allocate(layout.hidden)
        activation = try allocate(layout.activation)
        expertOutput = try allocate(layout.expertOutput)
        output = try allocate(layout.output)
        byteCount = layout.total
    }

    /// Whether a workspace of these chunks can keep no A: every chunk's down-projection takes the multicast kernel,
    /// whose twin computes A from H.
    public static func supportsActivationFree(layer: GPUMoELayer, capacity: Int, chunkColumns requested: Int? = nil) -> Bool {
        let c = layer.config
        let columns = ColumnChunks.columns(topK: c.topK, hidden: c.hidden, capacity: capacity, requested: requested)
        return activationFree(layer: layer, columnChunks: ColumnChunks.ranges(hidden: c.hidden, columns: columns))
    }

    private static func activationFree(layer: GPUMoELayer, columnChunks: [Range<Int>]) -> Bool {
        columnChunks.allSatisfy {
            BF16GEMMChoice.automatic.kernel(n: $0.count, k: layer.config.intermediate, groups: layer.config.experts,
                                            tmaWeights: layer.kernels.tmaWeights) == .cooperativeMulticastStoreTMAA
        }
    }

    /// Every output buffer filled with 0xFF bytes (NaN in bf16 and fp32, −1 in int32), so an unwritten element shows.
    public func poison() throws {
        for buffer in [logits, expertIndex, scores, gatherIndex, assignmentOfPosition, scoreOfPosition,
                       positionOfAssignment, hidden, activation, expertOutput, output] {
            try buffer.fill(byte: 0xFF)
        }
    }
}

/// The dtype of the expert weight gradients dW1 and dW2 (always accumulated in fp32 inside the GEMM).
public enum WeightGradientPrecision: String, Sendable, CaseIterable {
    /// fp32, for fp32 master weights and optimizers (the default).
    case float32 = "fp32"
    /// Rounded once to bf16: what PyTorch's autograd returns for bf16 parameters, at half the bytes.
    case bfloat16 = "bf16"

    /// Bytes per element.
    public var elementBytes: Int { self == .float32 ? 4 : 2 }
}

/// Device buffers of the backward pass for up to `capacity` tokens: the gradients (dW1 and dW2 in `weightPrecision`,
/// fp32 dWr, bf16 dX, fp32 dS) and the transient dH, A′, dS partials and dZ.
public final class GPUGradients: @unchecked Sendable {
    public let capacity: Int
    /// The dtype of dW1 and dW2.
    public let weightPrecision: WeightGradientPrecision
    /// The widest column chunk (``GPUWorkspace/chunkColumns``) these buffers serve.
    public let chunkColumns: Int
    /// dX [T, d] bf16; dWr [d, E] fp32; dW1 [E, d, 2n], dW2 [E, n, d] in `weightPrecision`; dS [T, K] fp32.
    public let input, router, w1, w2, scores: DeviceBuffer
    /// dH [rows, 2n], A′ [rows, n] (bf16), dS partials, dZ [T, E′] (bf16), the router's dX of one column chunk
    /// [T, chunkColumns] (bf16).
    let hiddenGradient, scaledActivation, scorePartials, logitGradient, routerInputGradient: DeviceBuffer
    /// dWr split-K: row offsets of the splits and their fp32 partials [splits, d, E].
    let routerSplitOffsets, routerPartials: DeviceBuffer
    /// One-group offsets of the router's dX GEMM.
    let routerOffsets, routerTileOffsets: DeviceBuffer
    /// Bytes of the weight gradients (dWr, dW1, dW2: parameter-sized) and of everything else (activation-sized).
    public let weightGradientBytes: Int
    public let activationBytes: Int
    private let maxRouterSplits: Int
    private let routerTiles: Int
    private let multiprocessors: Int

    /// - Parameter chunkColumns: as for the ``GPUWorkspace`` it will be used with (nil: the default).
    /// - Parameter weightPrecision: the dtype of dW1 and dW2.
    public init(layer: GPUMoELayer, capacity: Int, chunkColumns requested: Int? = nil,
                weightPrecision: WeightGradientPrecision = .float32) throws {
        let c = layer.config
        let ctx = layer.kernels.context
        let rows = max(capacity * c.topK, 1)
        let tokens = max(capacity, 1)
        self.capacity = capacity
        self.weightPrecision = weightPrecision
        chunkColumns = ColumnChunks.columns(topK: c.topK, hidden: c.hidden, capacity: capacity, requested: requested)
        var activations = 0, weights = 0
        func allocate(_ bytes: Int, weight: Bool = false) throws -> DeviceBuffer {
            if weight { weights += bytes } else { activations += bytes }
            return try ctx.allocate(bytes: max(bytes, 1))
        }
        input = try allocate(tokens * c.hidden * 2)
        router = try allocate(c.hidden * c.experts * 4, weight: true)
        w1 = try allocate(c.experts * c.hidden * 2 * c.intermediate * weightPrecision.elementBytes, weight: true)
        w2 = try allocate(c.experts * c.intermediate * c.hidden * weightPrecision.elementBytes, weight: true)
        scores = try allocate(rows * 4)
        hiddenGradient = try allocate(rows * 2 * c.intermediate * 2)
        scaledActivation = try allocate(rows * c.intermediate * 2)
        scorePartials = try allocate(rows * ((c.intermediate + 127) / 128) * 4)
        logitGradient = try allocate(tokens * layer.paddedExperts * 2)
        routerInputGradient = try allocate(tokens * chunkColumns * 2)
        routerOffsets = try allocate(8)
        routerTileOffsets = try allocate(8)
        multiprocessors = ctx.multiprocessorCount
        let width = GPUKernels.tileWidth(columns: c.experts)
        routerTiles = (c.hidden + 127) / 128 * ((c.experts + width - 1) / width)
        maxRouterSplits = max(1, min(tokens / 256, 2 * ctx.multiprocessorCount / routerTiles))
        routerSplitOffsets = try allocate((maxRouterSplits + 1) * 4)
        routerPartials = try allocate(maxRouterSplits * c.hidden * c.experts * 4)
        weightGradientBytes = weights
        activationBytes = activations
    }

    /// Row splits of the dWr product for `tokens` rows: enough to give about two blocks per SM, each at least
    /// 256 rows long.
    func routerSplits(tokens: Int) -> Int {
        max(1, min(maxRouterSplits, tokens / 256, 2 * multiprocessors / routerTiles))
    }

    /// Every output filled with 0xFF bytes (NaN), so an unwritten element shows.
    public func poison() throws {
        for buffer in [input, router, w1, w2, scores, hiddenGradient, scaledActivation, scorePartials, logitGradient] {
            try buffer.fill(byte: 0xFF)
        }
    }
}
