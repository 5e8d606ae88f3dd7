import Foundation
import Switchyard
import SwitchyardFormats

/// The router's launch sequences, shared by the single-device layer (``GPUMoELayer``) and the router of the
/// expert-parallel layer (``GPURouter``), which routes a rank's tokens without holding any expert.
extension GPUKernels {
    /// Router kernel mode and its parameters (see moe_router.cu).
    static func routerMode(_ config: MoEConfig) -> (mode: Int32, groups: Int32, topKGroups: Int32, scaling: Float) {
        switch config.router.kind {
        case .softmaxTopK(let renormalize): (renormalize ? 1 : 0, 1, 1, 1)
        case .mixtral: (2, 1, 1, 1)
        case .sigmoidBias(let groups, let topKGroups, let scaling): (3, Int32(groups), Int32(topKGroups), Float(scaling))
        }
    }

    /// Z = X·Wrᵀ (fp32 [T, E]) and the top-K choice (expert index and score [T, K]). `router` is bf16 [E, d];
    /// `singleOffsets`/`singleTileOffsets` hold two int32 each (the one-group GEMM's offsets, set here).
    func enqueueRouting(
        input: UInt64, tokens: Int, config c: MoEConfig, router: UInt64, bias: UInt64, singleOffsets: UInt64,
        singleTileOffsets: UInt64, logits: UInt64, expertIndex: UInt64, scores: UInt64, stream: CUDAStream?
    ) throws {
        let E = c.experts, K = c.topK, d = c.hidden
        try enqueueOneGroup(a: input, rows: tokens, b: router, columns: E, depth: d, offsets: singleOffsets,
                            tileOffsets: singleTileOffsets, out: logits, stream: stream)
        let mode = GPUKernels.routerMode(c)
        var a = KernelArguments()
        a.append(logits); a.append(bias); a.append(Int32(tokens)); a.append(Int32(E)); a.append(Int32(K))
        a.append(mode.mode); a.append(mode.groups); a.append(mode.topKGroups); a.append(mode.scaling)
        a.append(expertIndex); a.append(scores)
        try routerTopK.launch(grid: ((tokens + 7) / 8, 1, 1), block: (256, 1, 1), stream: stream, arguments: a)
    }

    /// dS [T, K] (fp32) = Σ over `tiles` partials at position(t, k) (0 where −1), then dZ [T, E′] (bf16, zeros past
    /// E) through the score rule and the router losses (`counts` is read only when a loss coefficient is non-zero).
    func enqueueRouterBackward(
        tokens: Int, config c: MoEConfig, logits: UInt64, expertIndex: UInt64, scores: UInt64,
        positionOfAssignment: UInt64, scorePartials: UInt64, tiles: Int, counts: UInt64, scoreGradient: UInt64,
        logitGradient: UInt64, paddedExperts: Int, stream: CUDAStream?
    ) throws {
        let E = c.experts, K = c.topK
        let mode = GPUKernels.routerMode(c)
        var a = KernelArguments()
        a.append(logits); a.append(expertIndex); a.append(scores); a.append(positionOfAssignment)
        a.append(scorePartials); a.append(Int32(tiles)); a.append(Int32(tokens)); a.append(Int32(E)); a.append(Int32(K))
        a.append(mode.mode); a.append(mode.scaling); a.append(scoreGradient); a.append(logitGradient)
        a.append(Int32(paddedExperts))
        // Router losses: h_e = α·E·f_e / T with f_e = counts[e] / (T·K); z: 2β·lse / T (see moe_router.cu).
        let T = Double(tokens)
        a.append(counts)
        a.append(Float(c.router.auxLossCoefficient * Double(E) / (T * Double(K) * T)))
        a.append(Float(2 * c.router.zLossCoefficient / T))
        try routerBackward.launch(grid: ((tokens + 3) / 4, 1, 1), block: (128, 1, 1), stream: stream, arguments: a)
    }

    /// One weight-gradient grouped GEMM: out[g] = A[rows of g]ᵀ · B[rows of g] (M × N per group, fp32 or with
    /// `precision` bf16, accumulated in fp32 either way), reducing over each group's rows (`offsets` [groups + 1]);
    /// either operand's rows may be gathered (index list, or 0).
    /// `rows`: how many rows the operands that are not gathered have (the row space `offsets` indexes); with it, and
    /// ``tmaWeightGradients`` on, those operands come by TMA. 0: every operand by cp.async.
    func enqueueWeightGradient(
        a operandA: UInt64, lda: Int, gatherA: UInt64, b operandB: UInt64, ldb: Int, gatherB: UInt64, m: Int, n: Int,
        groups: Int, offsets: UInt64, out: UInt64, ldOut: Int, rows: Int = 0,
        precision: WeightGradientPrecision = .float32, stream: CUDAStream?
    ) throws {
        let width = GPUKernels.tileWidth(columns: n)
        let tma = tmaWeightGradients && rows > 0 && (gatherA == 0 || gatherB == 0)
        let kernel = switch (tma, precision) {
        case (true, .float32): weightGradTMA(width)
        case (true, .bfloat16): weightGradTMABF16(width)
        case (false, .float32): weightGrad(width)
        case (false, .bfloat16): weightGradBF16(width)
        }
        var args = KernelArguments()
        args.append(operandA); args.append(Int64(lda)); args.append(gatherA)
        args.append(operandB); args.append(Int64(ldb)); args.append(gatherB)
        args.append(Int32(m)); args.append(Int32(n)); args.append(Int32(groups)); args.append(offsets)
        args.append(out); args.append(Int32(ldOut))
        if tma {
            // The map of a gathered operand is not read; an empty one stands in.
            func map(_ address: UInt64, gathered: Bool, columns: Int, ld: Int) throws -> TensorMap {
                gathered ? TensorMap(words: [UInt64](repeating: 0, count: 16))
                    : try TensorMap.tiled2D(context: context, address: address, dtype: .bf16, rows: rows, columns: columns,
                                            rowStrideBytes: ld * 2, boxRows: 64, boxColumns: 64, swizzle128B: true)
            }
            args.append(try map(operandA, gathered: gatherA != 0, columns: m, ld: lda))
            args.append(try map(operandB, gathered: gatherB != 0, columns: n, ld: ldb))
        }
        let tiles = groups * ((m + 127) / 128) * ((n + width - 1) / width)
        try kernel.function.launch(grid: (min(tiles, persistentBlocks), 1, 1), block: (256, 1, 1),
                                   sharedMemoryBytes: kernel.sharedBytes, stream: stream, arguments: args)
    }

    /// dWr [d, E] (fp32) = Xᵀ · dZ over `tokens` rows (dZ has E′ columns). Few output tiles and a long reduction, so
    /// the rows are split into `splits` groups that write partials, summed in a fixed order: deterministic, no atomics.
    func enqueueRouterWeightGradient(
        input: UInt64, logitGradient: UInt64, tokens: Int, hidden d: Int, experts E: Int, paddedExperts: Int,
        splits: Int, splitOffsets: UInt64, partials: UInt64, out: UInt64, stream: CUDAStream?
    ) throws {
        var a = KernelArguments()
        a.append(Int32(tokens)); a.append(Int32(splits)); a.append(splitOffsets)
        try splitRows.launch(grid: (1, 1, 1), block: (1, 1, 1), stream: stream, arguments: a)
        try enqueueWeightGradient(a: input, lda: d, gatherA: 0, b: logitGradient, ldb: paddedExperts, gatherB: 0,
                                  m: d, n: E, groups: splits, offsets: splitOffsets, out: partials, ldOut: E, rows: tokens,
                                  stream: stream)
        a = KernelArguments()
        a.append(partials); a.append(Int32(splits)); a.append(Int64(d * E)); a.append(out)
        try sumPartials.launch(grid: (min((d * E + 255) / 256, 1024), 1, 1), block: (256, 1, 1), stream: stream,
                               arguments: a)
    }

    /// The router's share of dX for `tokens` rows: [T, d] = dZ · Wr (`routerPadded` is bf16 [d, E′]), fp32, or bf16
    /// with `bf16` (rounded once, as each expert row of dX is); the one-group offsets are set here unless
    /// `setsOffsets` is false (an earlier call with the same `tokens` set them). With `columns` (bf16 only: the
    /// layer's column chunks) only those columns of dX, as [T, columns.count].
    func enqueueRouterInputGradient(
        logitGradient: UInt64, tokens: Int, hidden d: Int, columns: Range<Int>? = nil, paddedExperts: Int,
        routerPadded: UInt64, offsets: UInt64, tileOffsets: UInt64, setsOffsets: Bool = true, out: UInt64,
        bf16: Bool = false, stream: CUDAStream?
    ) throws {
        try enqueueOneGroup(a: logitGradient, rows: tokens, b: routerPadded, columns: d, range: columns,
                            depth: paddedExperts, offsets: offsets, tileOffsets: tileOffsets, setsOffsets: setsOffsets,
                            out: out, bf16: bf16, stream: stream)
    }

    /// out [rows, columns] = A [rows, depth] · Bᵀ (B bf16 [columns, depth], K-major) as a one-group grouped GEMM, whose
    /// offsets (two int32 each at `offsets`, `tileOffsets`) are set here on the device unless `setsOffsets` is false:
    /// fp32 out (`sy_gemm_f32`), or
    /// bf16 with `bf16` (the bf16 GEMM at the width of `columns`, no row scale). `range` (bf16 only): just those of
    /// the columns, out [rows, range.count].
    private func enqueueOneGroup(
        a operandA: UInt64, rows: Int, b operandB: UInt64, columns allColumns: Int, range: Range<Int>? = nil, depth: Int,
        offsets: UInt64, tileOffsets: UInt64, setsOffsets: Bool = true, out: UInt64, bf16: Bool = false,
        stream: CUDAStream?
    ) throws {
        precondition(range == nil || bf16, "a column range is for the bf16 GEMM")
        let range = range ?? 0..<allColumns
        let columns = range.count
        let firstRow = operandB + UInt64(range.lowerBound * depth * 2)  // B at the range's first row
        var a = KernelArguments()
        if setsOffsets {
            a.append(Int32(rows)); a.append(Int32(GPUKernels.tileRows)); a.append(offsets); a.append(tileOffsets)
            try singleGroup.launch(grid: (1, 1, 1), block: (1, 1, 1), stream: stream, arguments: a)
        }
        if bf16, routerInputGradientWarpSpecialized,
           bf16Choice.kernel(n: columns, k: depth, groups: 1, tmaWeights: tmaWeights) != .oneRole
        {
            // The bf16 GEMM the dX rows run on (at 30B-n256 the one-role kernel ran this K = 256 product at a third
            // of the tensor pipe). A comes by TMA where that kernel loads it so: the map spans exactly the rows,
            // and the boxes of the last tile past them read zeros.
            let gemm = try bf16GEMM(weights: operandB, groups: 1, n: allColumns, k: depth, columns: range,
                                    output: (out, rows), input: (operandA, rows))
            a = KernelArguments()
            a.append(operandA); a.append(UInt64(0)); a.append(firstRow); a.append(Int32(columns)); a.append(Int32(depth))
            a.append(offsets); a.append(tileOffsets); a.append(Int32(1)); a.append(out); a.append(UInt64(0))
            a.append(Int32(allColumns))
            try gemm.launch(blocks: persistentBlocks, stream: stream, arguments: a)
            return
        }
        a = KernelArguments()
        a.append(operandA); a.append(UInt64(0)); a.append(firstRow); a.append(Int32(columns)); a.append(Int32(depth))
        a.append(offsets); a.append(tileOffsets); a.append(Int32(1)); a.append(out)
        let kernel = bf16 ? gemmBF16(GPUKernels.tileWidth(columns: columns))
                          : (function: gemmF32, sharedBytes: GPUKernels.gemmSharedMemoryBytes)
        if bf16 { a.append(UInt64(0)); a.append(Int32(allColumns)) }  // row_scale: none; B's rows per group
        try kernel.function.launch(grid: (context.multiprocessorCount, 1, 1), block: (GPUKernels.gemmThreads, 1, 1),
                                   sharedMemoryBytes: kernel.sharedBytes, stream: stream, arguments: a)
    }

    /// Wr from the canonical bf16 [d, E] at `source` into the routing GEMM's [E, d] and the backward GEMMs' zero-padded
    /// [d, E′] layouts.
    func enqueuePackRouter(source: UInt64, hidden d: Int, experts E: Int, into packed: UInt64, padded: UInt64,
                           stream: CUDAStream?) throws {
        let Ep = (E + 63) / 64 * 64
        var a = KernelArguments()
        a.append(source); a.append(Int32(d)); a.append(Int32(E)); a.append(Int32(0)); a.append(packed)
        try packRows.launch(grid: ((E + 31) / 32, (d + 31) / 32, 1), block: (32, 8, 1), stream: stream, arguments: a)
        a = KernelArguments()
        a.append(source); a.append(Int32(d)); a.append(Int32(E)); a.append(Int32(Ep)); a.append(padded)
        try padColumns.launch(grid: (min((d * Ep + 255) / 256, 4096), 1, 1), block: (256, 1, 1), stream: stream,
                              arguments: a)
    }

    /// O [rows, d] (bf16) = Σ_k s_k · Y[position(t, k)] (+ extra, fp32 [rows, d]) in ascending k; position −1 adds
    /// nothing, `scores` 0 means s = 1, `extra` 0 means none. With K = 1, no scores and no extra it gathers rows:
    /// O[t] = Y[position(t)].
    public func enqueueCombine(
        rows: UInt64, position: UInt64, scores: UInt64, choices K: Int, width d: Int, extra: UInt64, count: Int,
        out: UInt64, stream: CUDAStream?
    ) throws {
        guard count > 0 else { return }
        var a = KernelArguments()
        a.append(rows); a.append(position); a.append(scores); a.append(Int32(K)); a.append(Int32(d))
        a.append(extra); a.append(out); a.append(Int32(d))
        try combine.launch(grid: (count, 1, 1), block: (128, 1, 1), stream: stream, arguments: a)
    }
}

/// The router alone on a GPU: Wr and its score-correction bias, routing tokens and taking the router's part of the
/// backward pass. The expert-parallel layer's source side: every rank routes its own tokens with a replicated
/// router, while the experts live on other ranks.
public final class GPURouter: @unchecked Sendable {
    public let config: MoEConfig
    public let kernels: GPUKernels
    /// Wr as [E, d] (the routing GEMM's operand) and zero-padded [d, E′] (the backward GEMMs'), bf16; the bias [E] fp32.
    let weights: DeviceBuffer
    let padded: DeviceBuffer
    let bias: DeviceBuffer
    /// E rounded up to a multiple of 64.
    public var paddedExperts: Int { (config.experts + 63) / 64 * 64 }

    /// Uploads Wr [d, E] (rounded to bf16) and the bias [E].
    public init(kernels: GPUKernels, config c: MoEConfig, router: Tensor<Float>, bias: Tensor<Float>) throws {
        try router.requireShape([c.hidden, c.experts], "router Wr")
        try bias.requireShape([c.experts], "router bias")
        config = c
        self.kernels = kernels
        let context = kernels.context
        let d = c.hidden, E = c.experts
        let canonical = try context.allocate(bytes: d * E * 2)
        try canonical.upload(router.scalars.map { BFloat16($0).bitPattern })
        weights = try context.allocate(bytes: d * E * 2)
        padded = try context.allocate(bytes: d * ((E + 63) / 64 * 64) * 2)
        self.bias = try context.allocate(bytes: E * 4)
        try self.bias.upload(bias.scalars)
        try kernels.enqueuePackRouter(source: canonical.address, hidden: d, experts: E, into: weights.address,
                                      padded: padded.address, stream: nil)
        try context.synchronize()
    }
}

/// Device buffers of ``GPURouter`` for up to `capacity` tokens.
public final class GPURouterWorkspace: @unchecked Sendable {
    public let capacity: Int
    /// Z [T, E] fp32, the choices [T, K] int32 and scores [T, K] fp32.
    public let logits, expertIndex, scores: DeviceBuffer
    /// Backward: dS [T, K] fp32, dZ [T, E′] bf16, the router's dX [T, d] fp32, dWr [d, E] fp32.
    public let scoreGradient, logitGradient, inputGradient, weightGradient: DeviceBuffer
    let singleOffsets, singleTileOffsets, splitOffsets, partials: DeviceBuffer
    let maxSplits: Int

    public init(router: GPURouter, capacity: Int) throws {
        let c = router.config, ctx = router.kernels.context
        let T = max(capacity, 1), E = c.experts, K = c.topK, d = c.hidden
        self.capacity = capacity
        logits = try ctx.allocate(bytes: T * E * 4)
        expertIndex = try ctx.allocate(bytes: T * K * 4)
        scores = try ctx.allocate(bytes: T * K * 4)
        scoreGradient = try ctx.allocate(bytes: T * K * 4)
        logitGradient = try ctx.allocate(bytes: T * router.paddedExperts * 2)
        inputGradient = try ctx.allocate(bytes: T * d * 4)
        weightGradient = try ctx.allocate(bytes: d * E * 4)
        singleOffsets = try ctx.allocate(bytes: 8)
        singleTileOffsets = try ctx.allocate(bytes: 8)
        let tiles = (d + 127) / 128 * ((E + GPUKernels.tileWidth(columns: E) - 1) / GPUKernels.tileWidth(columns: E))
        maxSplits = max(1, min(T / 256, 2 * ctx.multiprocessorCount / tiles))
        splitOffsets = try ctx.allocate(bytes: (maxSplits + 1) * 4)
        partials = try ctx.allocate(bytes: maxSplits * d * E * 4)
    }
}

extension GPURouter {
    /// Routes `tokens` rows of X (bf16 [T, d] at `input`): logits, choices and scores into `w`.
    public func route(input: UInt64, tokens: Int, workspace w: GPURouterWorkspace, stream: CUDAStream?) throws {
        guard tokens <= w.capacity else {
            throw SwitchyardError(.shapeMismatch, "router workspace holds \(w.capacity) tokens, asked for \(tokens)")
        }
        guard tokens > 0 else { return }
        try kernels.enqueueRouting(
            input: input, tokens: tokens, config: config, router: weights.address, bias: bias.address,
            singleOffsets: w.singleOffsets.address, singleTileOffsets: w.singleTileOffsets.address, logits: w.logits.address,
            expertIndex: w.expertIndex.address, scores: w.scores.address, stream: stream)
    }

    /// The router's backward from the scores' gradient: `scoreGradient` [T, K] fp32 is read through `position`
    /// (int32 [T, K]: index into it, −1 = none), written to `w.scoreGradient`; then dZ, the router's dX
    /// (`w.inputGradient`, fp32) and dWr (`w.weightGradient`) over these tokens. The aux and z losses are not
    /// included (their statistics are global).
    public func backward(
        input: UInt64, tokens: Int, scoreGradient: UInt64, position: UInt64, workspace w: GPURouterWorkspace,
        stream: CUDAStream?
    ) throws {
        guard tokens > 0 else {
            try w.weightGradient.fill(byte: 0)
            return
        }
        let c = config, Ep = paddedExperts
        try kernels.enqueueRouterBackward(
            tokens: tokens, config: c, logits: w.logits.address, expertIndex: w.expertIndex.address,
            scores: w.scores.address, positionOfAssignment: position, scorePartials: scoreGradient, tiles: 1, counts: 0,
            scoreGradient: w.scoreGradient.address, logitGradient: w.logitGradient.address, paddedExperts: Ep,
            stream: stream)
        try kernels.enqueueRouterInputGradient(
            logitGradient: w.logitGradient.address, tokens: tokens, hidden: c.hidden, paddedExperts: Ep,
            routerPadded: padded.address, offsets: w.singleOffsets.address, tileOffsets: w.singleTileOffsets.address,
            out: w.inputGradient.address, stream: stream)
        let splits = max(1, min(w.maxSplits, tokens / 256))
        try kernels.enqueueRouterWeightGradient(
            input: input, logitGradient: w.logitGradient.address, tokens: tokens, hidden: c.hidden, experts: c.experts,
            paddedExperts: Ep, splits: splits, splitOffsets: w.splitOffsets.address, partials: w.partials.address,
            out: w.weightGradient.address, stream: stream)
    }
}
