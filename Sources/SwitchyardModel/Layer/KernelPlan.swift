import Switchyard

/// Forward or backward pass.
public enum Phase: String, Sendable, Hashable, Codable {
    case forward, backward
}

/// One group of a grouped GEMM: its output rows (M) and its reduction length (K).
public struct GEMMGroup: Sendable, Hashable {
    public var rows: Int
    public var depth: Int

    public init(rows: Int, depth: Int) {
        self.rows = rows
        self.depth = depth
    }
}

/// Where a kernel runs relative to expert parallelism's all-to-alls: before dispatch on the token's rank,
/// on the expert's rank, or after combine back on the token's rank.
public enum Stage: String, Sendable, Hashable, Codable {
    case routing, experts, output
}

/// Which calibration factors a GEMM's tiles use.
public enum GEMMKind: String, Sendable, Hashable, Codable {
    /// Rows × columns over a reduction of d, n or E (the expert GEMMs and the router's GEMMs).
    case grouped
    /// dW = Xᵀ·dY: the reduction runs over each expert's rows (``Calibration/weightGradientEfficiency``).
    case weightGradient
}

/// What decides a kernel's time.
public enum KernelWork: Sendable, Hashable {
    /// A streaming kernel: its HBM bytes over the copy ceiling, plus launches.
    case streaming
    /// A (grouped) GEMM, `columns` = N for every group, on `tile` (the workload's tile when `nil`).
    case gemm(groups: [GEMMGroup], columns: Int, precision: Precision, tile: TileConfig? = nil, kind: GEMMKind = .grouped)
}

/// One kernel (or a short run of launch-bound kernels) of the layer, with its counted work.
public struct KernelSpec: Sendable, Hashable {
    public var name: String
    public var phase: Phase
    public var stage: Stage
    /// Useful FLOPs (on real rows; padding excluded).
    public var flops: Double
    /// HBM bytes read plus written, counting each operand once (gathered rows once per assignment).
    public var bytes: Double
    public var launches: Int
    /// Activation buffers beyond the cached ones that are alive while it runs (for the transient peak).
    public var transientBytes: Double
    public var work: KernelWork
}

/// The kernels Switchyard launches for one layer, in order, as data: change this list when the kernels change.
/// It follows `GPUMoELayer.forward` and `.backward` (Sources/SwitchyardCUDA) launch by launch; kernels that do
/// next to no work (one-thread setup, the dispatch metadata) are folded into a neighbour as extra launches.
///
/// Notation in the comments: T tokens, d hidden, n intermediate, u = H columns (2n gated), E experts, E′ = E rounded
/// up to 64, K top-K, R = Σ rows over experts, s = operand bytes of the precision (2 bf16, 1.03 FP8 with scales).
public enum KernelPlan {
    /// All kernels, forward then backward. `smCount` sizes the split-K of the router's weight gradient.
    public static func kernels(for workload: LayerWorkload, smCount: Int) -> [KernelSpec] {
        let sizes = Sizes(workload)
        return forward(workload, sizes) + backward(workload, sizes, smCount: smCount)
    }

    /// Routing metadata kept for backward: logits Z (T·E fp32, for the router's backward), idx and scores
    /// (T·K each, 4 B), the gather index (R) and inverse map (T·K), counts and offsets (E, 8 B).
    public static func routingMetadataBytes(_ workload: LayerWorkload) -> Double {
        let s = Sizes(workload)
        return s.T * s.E * 4 + s.TK * 12 + s.R * 4 + s.E * 8
    }

    /// Activations cached for backward: H (R × u, bf16) and the routing metadata. X is the caller's.
    public static func cachedBytes(_ workload: LayerWorkload) -> Double {
        let s = Sizes(workload)
        return s.R * s.u * 2 + routingMetadataBytes(workload)
    }

    /// The tiles Switchyard's kernels use for this workload (``TileRule``).
    struct Tiles {
        /// The router logits X·Wr: the workload's tile.
        let router: TileConfig
        /// Up-projection (u columns; each tile holds N/2 gate and the matching N/2 up columns).
        let up: TileConfig
        /// Down-projection, dX rows and the router's dZ·Wrᵀ (d columns; the last on the one-role bf16 GEMM).
        let hiddenOutput: TileConfig
        /// dH kernel (n columns; one dS partial per row and column tile).
        let dH: TileConfig
        /// Weight gradients dW2 (d columns), dW1 (u columns), dWr (E columns).
        let dW2, dW1, dWr: TileConfig

        init(_ w: LayerWorkload) {
            let rule = w.tileRule, base = w.tile
            router = base
            up = rule.tile(base, columns: w.upColumns, halves: w.gated ? 2 : 1)
            hiddenOutput = rule.tile(base, columns: w.hidden)
            dH = rule.tile(base, columns: w.intermediate, divides: true)
            dW2 = rule.tile(base, columns: w.hidden)
            dW1 = rule.tile(base, columns: w.upColumns)
            dWr = rule.tile(base, columns: w.experts)
        }
    }

    struct Sizes {
        let T, d, n, u, E, paddedE, TK, R, active, sa, sw, aOut: Double
        /// Bytes per element of dW1 and dW2 (``LayerWorkload/weightGradientBytes``).
        let wg: Double
        let groups: [Int]
        let quantized: Bool
        let tiles: Tiles
        /// dS partials per row: one per column tile of the dH kernel.
        let scorePartialsPerRow: Double
        /// The share of d in one column chunk of Y (``ColumnChunks``): Y, the dX rows and the router's dX exist for
        /// one chunk at a time. Each of the `columnChunks` chunks is a launch of the down-projection, the combine,
        /// the dX rows, the router's dX and the dX sum, and reads A (or dH, dZ) again.
        let chunkShare: Double
        let columnChunks: Double

        init(_ w: LayerWorkload) {
            let rows = w.expertRows
            T = Double(w.tokens); d = Double(w.hidden); n = Double(w.intermediate); u = Double(w.upColumns)
            E = Double(w.experts); paddedE = Double(ceilDiv(w.experts, 64) * 64)
            TK = Double(w.tokens * w.topK); R = Double(rows.reduce(0, +))
            active = Double(rows.filter { $0 > 0 }.count)
            sa = w.precision.activationBytes; sw = w.precision.weightBytes
            wg = Double(w.weightGradientBytes ?? 4)
            quantized = w.precision.isQuantized
            aOut = quantized ? sa : 2
            groups = rows
            tiles = Tiles(w)
            scorePartialsPerRow = Double(ceilDiv(w.intermediate, tiles.dH.n))
            let width = ColumnChunks.columns(topK: w.topK, hidden: w.hidden, capacity: w.tokens)
            chunkShare = w.hidden > 0 ? Double(min(width, w.hidden)) / Double(w.hidden) : 1
            columnChunks = Double(ColumnChunks.ranges(hidden: w.hidden, columns: width).count)
        }

        func rowGroups(depth: Int) -> [GEMMGroup] { groups.map { GEMMGroup(rows: $0, depth: depth) } }
        func weightGroups(rows: Int) -> [GEMMGroup] {
            groups.filter { $0 > 0 }.map { GEMMGroup(rows: rows, depth: $0) }
        }
    }

    private static func forward(_ w: LayerWorkload, _ s: Sizes) -> [KernelSpec] {
        let p = w.precision
        let z = s.T * s.E * 4, a = s.R * s.n * s.aOut, y = s.R * s.d * 2, o = s.T * s.d * 2
        let yChunk = y * s.chunkShare  // Y of one column chunk
        let chunks = s.columnChunks, launches = Int(s.columnChunks)
        var list = [
            // the one-thread group setup, then X·Wr with fp32 logits
            KernelSpec(
                name: "router logits X·Wr", phase: .forward, stage: .routing, flops: 2 * s.T * s.d * s.E,
                bytes: s.T * s.d * 2 + s.d * s.E * 2 + z, launches: 2, transientBytes: 0,
                work: .gemm(groups: [GEMMGroup(rows: w.tokens, depth: w.hidden)], columns: w.experts, precision: .bf16,
                            tile: s.tiles.router)),
            KernelSpec(
                name: "top-K", phase: .forward, stage: .routing, flops: 0, bytes: z + s.TK * 8, launches: 1, transientBytes: 0,
                work: .streaming),
            // count (idx read, local ranks written), scan, offsets, scatter (idx, scores, ranks read; gather index,
            // assignment, score and position of each row written)
            KernelSpec(
                name: "dispatch metadata", phase: .forward, stage: .routing, flops: 0, bytes: s.TK * 8 + s.TK * 12 + s.R * 16 + s.E * 12,
                launches: 4, transientBytes: 0, work: .streaming),
        ]
        let xq = s.quantized ? s.T * s.d * s.sa : 0
        if s.quantized {
            list.append(KernelSpec(
                name: "quantize X", phase: .forward, stage: .routing, flops: 0, bytes: s.T * s.d * 2 + xq, launches: 1,
                transientBytes: xq, work: .streaming))
        }
        list += [
            KernelSpec(
                name: "up-proj + act", phase: .forward, stage: .experts, flops: 2 * s.R * s.d * s.u,
                bytes: s.R * s.d * s.sa + s.active * s.d * s.u * s.sw + s.R * s.u * 2 + a, launches: 1,
                transientBytes: xq + a,
                work: .gemm(groups: s.rowGroups(depth: w.hidden), columns: w.upColumns, precision: p, tile: s.tiles.up)),
            KernelSpec(
                name: "down-proj", phase: .forward, stage: .experts, flops: 2 * s.R * s.n * s.d,
                bytes: a * chunks + s.active * s.n * s.d * s.sw + y, launches: launches, transientBytes: a + yChunk,
                work: .gemm(groups: s.rowGroups(depth: w.intermediate), columns: w.hidden, precision: p,
                            tile: s.tiles.hiddenOutput)),
            KernelSpec(
                name: "combine", phase: .forward, stage: .output, flops: 2 * s.TK * s.d, bytes: y + s.TK * 8 * chunks + o,
                launches: launches,
                transientBytes: yChunk + o, work: .streaming),
        ]
        return list
    }

    private static func backward(_ w: LayerWorkload, _ s: Sizes, smCount: Int) -> [KernelSpec] {
        let p = w.precision
        let dOq = s.quantized ? s.T * s.d * s.sa : 0
        let dH = s.R * s.u * s.sa * (s.quantized ? 2 : 1)  // FP8: row- and column-scaled copies
        let aPrime = s.R * s.n * s.sa, dS = s.R * s.scorePartialsPerRow * 4
        let gatheredColumnCopies = s.quantized ? 2 * s.R * s.d * s.sa : 0
        let dXRows = s.R * s.d * 2, dZ = s.T * s.paddedE * 2, routerDX = s.T * s.d * 2
        // Live at once: one column chunk of the dX rows and of the router's dX (bytes moved are the whole pass's).
        let dXRowsChunk = dXRows * s.chunkShare, routerDXChunk = routerDX * s.chunkShare
        let chunks = s.columnChunks, launches = Int(s.columnChunks)
        var list: [KernelSpec] = []
        if s.quantized {
            list.append(KernelSpec(
                name: "quantize dO", phase: .backward, stage: .routing, flops: 0, bytes: s.T * s.d * 2 + dOq, launches: 1,
                transientBytes: dOq, work: .streaming))
        }
        // dO rows gathered, W2, H and each row's score read; dH, A′ = s·A and the dS partials written
        list.append(KernelSpec(
            name: "dH = dO·W2ᵀ + act'", phase: .backward, stage: .experts, flops: 2 * s.R * s.d * s.n,
            bytes: s.R * s.d * s.sa + s.active * s.n * s.d * s.sw + s.R * s.u * 2 + s.R * 4 + dH + aPrime + dS,
            launches: 1, transientBytes: dOq + dH + aPrime + dS,
            work: .gemm(groups: s.rowGroups(depth: w.hidden), columns: w.intermediate, precision: p, tile: s.tiles.dH)))
        // logits, idx, scores, positions and the dS partials read; dS (T·K fp32) and dZ (T × E′ bf16) written
        list.append(KernelSpec(
            name: "router dS→dZ", phase: .backward, stage: .output, flops: 0,
            bytes: dS + s.T * s.E * 4 + s.TK * 12 + s.TK * 4 + dZ, launches: 1, transientBytes: dOq + dH + aPrime + dS + dZ,
            work: .streaming))
        let live = dOq + dH + aPrime + dS + dZ
        list += [
            KernelSpec(
                name: "dX rows = dH·W1ᵀ", phase: .backward, stage: .experts, flops: 2 * s.R * s.u * s.d,
                bytes: s.R * s.u * s.sa * chunks + s.active * s.d * s.u * s.sw + dXRows, launches: launches,
                transientBytes: live + dXRowsChunk,
                work: .gemm(groups: s.rowGroups(depth: w.upColumns), columns: w.hidden, precision: p,
                            tile: s.tiles.hiddenOutput)),
            // the router's share of dX, bf16 (as the expert rows), summed into dX below
            KernelSpec(
                name: "router dX = dZ·Wrᵀ", phase: .backward, stage: .output, flops: 2 * s.T * s.E * s.d,
                bytes: dZ * chunks + s.d * s.paddedE * 2 + routerDX, launches: launches,
                transientBytes: live + dXRowsChunk + routerDXChunk,
                work: .gemm(groups: [GEMMGroup(rows: w.tokens, depth: Int(s.paddedE))], columns: w.hidden,
                            precision: .bf16, tile: s.tiles.hiddenOutput)),
            KernelSpec(
                name: "dX sum", phase: .backward, stage: .output, flops: s.TK * s.d,
                bytes: dXRows + s.TK * 4 * chunks + routerDX + s.T * s.d * 2, launches: launches,
                transientBytes: live + dXRowsChunk + routerDXChunk + s.T * s.d * 2, work: .streaming),
        ]
        if s.quantized {
            // Weight gradients reduce over rows, so X and dO need 128×1 (column) scales over gathered rows.
            list.append(KernelSpec(
                name: "quantize X, dO gathered", phase: .backward, stage: .experts, flops: 0,
                bytes: 2 * s.R * s.d * 2 + gatheredColumnCopies, launches: 1,
                transientBytes: live + gatheredColumnCopies, work: .streaming))
        }
        let weightLive = live + gatheredColumnCopies
        list += [
            KernelSpec(
                name: "dW2 = A′ᵀ·dO", phase: .backward, stage: .experts, flops: 2 * s.R * s.n * s.d,
                bytes: aPrime + s.R * s.d * s.sa + s.active * s.n * s.d * s.wg, launches: 1, transientBytes: weightLive,
                work: .gemm(groups: s.weightGroups(rows: w.intermediate), columns: w.hidden, precision: p,
                            tile: s.tiles.dW2, kind: .weightGradient)),
            KernelSpec(
                name: "dW1 = Xᵀ·dH", phase: .backward, stage: .experts, flops: 2 * s.R * s.d * s.u,
                bytes: s.R * s.d * s.sa + s.R * s.u * s.sa + s.active * s.d * s.u * s.wg, launches: 1,
                transientBytes: weightLive,
                work: .gemm(groups: s.weightGroups(rows: w.hidden), columns: w.upColumns, precision: p,
                            tile: s.tiles.dW1, kind: .weightGradient)),
        ]
        return list + routerWeightGradient(w, s, smCount: smCount, live: weightLive)
    }

    /// Row splits of dWr = Xᵀ·dZ as the GPU picks them: about two blocks per SM, each split at least 256 rows.
    static func routerSplits(_ w: LayerWorkload, tile: TileConfig, smCount: Int) -> Int {
        let outputTiles = ceilDiv(w.hidden, tile.m) * ceilDiv(w.experts, tile.n)
        return max(1, min(w.tokens / 256, 2 * smCount / max(outputTiles, 1)))
    }

    /// dWr has only ⌈d/M⌉·⌈E/N⌉ output tiles over a T-long reduction: the one-thread split setup, the split-K
    /// GEMM writing fp32 partials, and their sum in a fixed order.
    private static func routerWeightGradient(_ w: LayerWorkload, _ s: Sizes, smCount: Int, live: Double) -> [KernelSpec] {
        let tile = s.tiles.dWr
        let splits = routerSplits(w, tile: tile, smCount: smCount)
        let partials = Double(splits) * s.d * s.E * 4, dWr = s.d * s.E * 4
        let splitGroups = Array(repeating: GEMMGroup(rows: w.hidden, depth: ceilDiv(w.tokens, splits)), count: splits)
        return [
            KernelSpec(
                name: "router dWr = Xᵀ·dZ", phase: .backward, stage: .output, flops: 2 * s.T * s.d * s.E,
                bytes: s.T * s.d * 2 + s.T * s.paddedE * 2 + partials, launches: 2, transientBytes: live + partials,
                work: .gemm(groups: splitGroups, columns: w.experts, precision: .bf16, tile: tile, kind: .weightGradient)),
            KernelSpec(
                name: "router dWr sum", phase: .backward, stage: .output, flops: Double(splits - 1) * s.d * s.E,
                bytes: partials + dWr, launches: 1, transientBytes: live + partials, work: .streaming),
        ]
    }
}
