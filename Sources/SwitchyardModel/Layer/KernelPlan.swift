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

/// What decides a kernel's time.
public enum KernelWork: Sendable, Hashable {
    /// A streaming kernel: its HBM bytes over the copy ceiling, plus launches.
    case streaming
    /// A (grouped) GEMM tiled by the workload's ``TileConfig``, `columns` = N for every group.
    case gemm(groups: [GEMMGroup], columns: Int, precision: Precision)
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
///
/// Notation in the comments: T tokens, d hidden, n intermediate, u = H columns (2n gated), E experts, K top-K,
/// R = Σ rows over experts, s = operand bytes of the precision (2 bf16, 1.03 FP8 with scales).
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

    struct Sizes {
        let T, d, n, u, E, TK, R, active, sa, sw, aOut: Double
        let groups: [Int]
        let quantized: Bool
        let columnTilesOfN: Double

        init(_ w: LayerWorkload) {
            let rows = w.expertRows
            T = Double(w.tokens); d = Double(w.hidden); n = Double(w.intermediate); u = Double(w.upColumns)
            E = Double(w.experts); TK = Double(w.tokens * w.topK); R = Double(rows.reduce(0, +))
            active = Double(rows.filter { $0 > 0 }.count)
            sa = w.precision.activationBytes; sw = w.precision.weightBytes
            quantized = w.precision.isQuantized
            aOut = quantized ? sa : 2
            groups = rows
            columnTilesOfN = Double(ceilDiv(w.intermediate, w.tile.n))
        }

        func rowGroups(depth: Int) -> [GEMMGroup] { groups.map { GEMMGroup(rows: $0, depth: depth) } }
        func weightGroups(rows: Int) -> [GEMMGroup] {
            groups.filter { $0 > 0 }.map { GEMMGroup(rows: rows, depth: $0) }
        }
    }

    private static func forward(_ w: LayerWorkload, _ s: Sizes) -> [KernelSpec] {
        let p = w.precision
        let z = s.T * s.E * 4, a = s.R * s.n * s.aOut, y = s.R * s.d * 2, o = s.T * s.d * 2
        var list = [
            KernelSpec(
                name: "router logits X·Wr", phase: .forward, stage: .routing, flops: 2 * s.T * s.d * s.E,
                bytes: s.T * s.d * 2 + s.d * s.E * 2 + z, launches: 1, transientBytes: 0,
                work: .gemm(groups: [GEMMGroup(rows: w.tokens, depth: w.hidden)], columns: w.experts, precision: .bf16)),
            KernelSpec(
                name: "top-K", phase: .forward, stage: .routing, flops: 0, bytes: z + s.TK * 8, launches: 1, transientBytes: 0,
                work: .streaming),
            // histogram, prefix sum, gather index, inverse map: idx read twice, R + T·K indices written
            KernelSpec(
                name: "dispatch metadata", phase: .forward, stage: .routing, flops: 0, bytes: s.TK * 8 + s.R * 4 + s.TK * 4 + s.E * 12,
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
                work: .gemm(groups: s.rowGroups(depth: w.hidden), columns: w.upColumns, precision: p)),
            KernelSpec(
                name: "down-proj", phase: .forward, stage: .experts, flops: 2 * s.R * s.n * s.d,
                bytes: a + s.active * s.n * s.d * s.sw + y, launches: 1, transientBytes: a + y,
                work: .gemm(groups: s.rowGroups(depth: w.intermediate), columns: w.hidden, precision: p)),
            KernelSpec(
                name: "combine", phase: .forward, stage: .output, flops: 2 * s.TK * s.d, bytes: y + s.TK * 8 + o, launches: 1,
                transientBytes: y + o, work: .streaming),
        ]
        return list
    }

    private static func backward(_ w: LayerWorkload, _ s: Sizes, smCount: Int) -> [KernelSpec] {
        let p = w.precision
        let dOq = s.quantized ? s.T * s.d * s.sa : 0
        let dH = s.R * s.u * s.sa * (s.quantized ? 2 : 1)  // FP8: row- and column-scaled copies
        let aPrime = s.R * s.n * s.sa, dS = s.R * s.columnTilesOfN * 4
        let gatheredColumnCopies = s.quantized ? 2 * s.R * s.d * s.sa : 0
        let dXPartial = s.R * s.d * 2, dX = s.T * s.d * 2
        var list: [KernelSpec] = []
        if s.quantized {
            list.append(KernelSpec(
                name: "quantize dO", phase: .backward, stage: .routing, flops: 0, bytes: s.T * s.d * 2 + dOq, launches: 1,
                transientBytes: dOq, work: .streaming))
        }
        list.append(KernelSpec(
            name: "dH = dO·W2ᵀ + act'", phase: .backward, stage: .experts, flops: 2 * s.R * s.d * s.n,
            bytes: s.R * s.d * s.sa + s.active * s.n * s.d * s.sw + s.R * s.u * 2 + s.R * 4 + dH + aPrime + dS,
            launches: 1, transientBytes: dOq + dH + aPrime + dS,
            work: .gemm(groups: s.rowGroups(depth: w.hidden), columns: w.intermediate, precision: p)))
        if s.quantized {
            // Weight gradients reduce over rows, so X and dO need 128×1 (column) scales over gathered rows.
            list.append(KernelSpec(
                name: "quantize X, dO gathered", phase: .backward, stage: .experts, flops: 0,
                bytes: 2 * s.R * s.d * 2 + gatheredColumnCopies, launches: 1,
                transientBytes: dOq + dH + aPrime + dS + gatheredColumnCopies, work: .streaming))
        }
        let live = dOq + dH + aPrime + dS + gatheredColumnCopies
        list += [
            KernelSpec(
                name: "dW2 = A′ᵀ·dO", phase: .backward, stage: .experts, flops: 2 * s.R * s.n * s.d,
                bytes: aPrime + s.R * s.d * s.sa + s.active * s.n * s.d * 2, launches: 1, transientBytes: live,
                work: .gemm(groups: s.weightGroups(rows: w.intermediate), columns: w.hidden, precision: p)),
            KernelSpec(
                name: "dW1 = Xᵀ·dH", phase: .backward, stage: .experts, flops: 2 * s.R * s.d * s.u,
                bytes: s.R * s.d * s.sa + s.R * s.u * s.sa + s.active * s.d * s.u * 2, launches: 1,
                transientBytes: live,
                work: .gemm(groups: s.weightGroups(rows: w.hidden), columns: w.upColumns, precision: p)),
            KernelSpec(
                name: "dX partial = dH·W1ᵀ", phase: .backward, stage: .experts, flops: 2 * s.R * s.u * s.d,
                bytes: s.R * s.u * s.sa + s.active * s.d * s.u * s.sw + dXPartial, launches: 1,
                transientBytes: dOq + dH + dS + dXPartial,
                work: .gemm(groups: s.rowGroups(depth: w.upColumns), columns: w.hidden, precision: p)),
            KernelSpec(
                name: "dX gather-sum", phase: .backward, stage: .output, flops: s.TK * s.d, bytes: dXPartial + s.TK * 4 + dX,
                launches: 1, transientBytes: dS + dXPartial + dX, work: .streaming),
        ]
        return list + routerBackward(w, s, smCount: smCount)
    }

    private static func routerBackward(_ w: LayerWorkload, _ s: Sizes, smCount: Int) -> [KernelSpec] {
        let dZ = s.T * s.E * 4, dX = s.T * s.d * 2
        // dWr = Xᵀ·dZ has only ⌈d/M⌉·⌈E/N⌉ output tiles over a T-long reduction: split K to fill the SMs,
        // then reduce the fp32 partials.
        let outputTiles = ceilDiv(w.hidden, w.tile.m) * ceilDiv(w.experts, w.tile.n)
        let splits = max(1, min(smCount / max(outputTiles, 1), w.tokens / (4 * w.tile.k)))
        let partials = Double(splits > 1 ? 2 * splits : 0) * s.d * s.E * 4
        let splitGroups = Array(repeating: GEMMGroup(rows: w.hidden, depth: ceilDiv(w.tokens, splits)), count: splits)
        return [
            KernelSpec(
                name: "router dS→dZ", phase: .backward, stage: .output, flops: 0,
                bytes: s.R * s.columnTilesOfN * 4 + 2 * dZ + s.TK * 8, launches: 1, transientBytes: dZ + dX,
                work: .streaming),
            KernelSpec(
                name: "router dX += dZ·Wrᵀ", phase: .backward, stage: .output, flops: 2 * s.T * s.E * s.d,
                bytes: dZ + s.d * s.E * 2 + 2 * dX, launches: 1, transientBytes: dZ + dX,
                work: .gemm(groups: [GEMMGroup(rows: w.tokens, depth: w.experts)], columns: w.hidden, precision: .bf16)),
            KernelSpec(
                name: "router dWr = Xᵀ·dZ", phase: .backward, stage: .output, flops: 2 * s.T * s.d * s.E,
                bytes: s.T * s.d * 2 + dZ + s.d * s.E * 4 + partials, launches: splits > 1 ? 2 : 1,
                transientBytes: dZ + dX + partials / 2,
                work: .gemm(groups: splitGroups, columns: w.experts, precision: .bf16)),
        ]
    }
}
