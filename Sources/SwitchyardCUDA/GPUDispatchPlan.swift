/// The expert-parallel dispatch plan on the device (sy_ep_* in moe_router.cu): which rows a source rank sends to
/// which rank, in DispatchPlan's order (chunk, destination rank, token), so that only the row counts reach the host.
///
/// Replica tables (int32, built once per rank by the caller): for expert e, `count[e]` replicas at `offset[e]` in
/// `rank`/`slot`; token t takes replica (t + sourceRank) % count.
public struct GPUReplicaTable: Sendable {
    public var offset: UInt64, count: UInt64, rank: UInt64, slot: UInt64
    public init(offset: UInt64, count: UInt64, rank: UInt64, slot: UInt64) {
        self.offset = offset
        self.count = count
        self.rank = rank
        self.slot = slot
    }
}

extension GPUKernels {
    /// Largest rank count of the device plan (a token's destinations are a 64-bit mask).
    public static let maxExpertParallelRanks = 64

    /// Step 1: each token's destination ranks (`mask`, uint64 [T]) and the row count of every (chunk, rank)
    /// (`counts`, int32 [chunks·R]); `chunkBegin` holds chunks + 1 token indices.
    public func enqueueDispatchCounts(
        expertIndex: UInt64, tokens: Int, topK: Int, ranks: Int, sourceRank: Int, replicas: GPUReplicaTable,
        chunkBegin: UInt64, chunks: Int, mask: UInt64, counts: UInt64, stream: CUDAStream?
    ) throws {
        guard tokens > 0 else { return }
        var a = KernelArguments()
        a.append(expertIndex); a.append(Int32(tokens)); a.append(Int32(topK)); a.append(replicas.offset)
        a.append(replicas.count); a.append(replicas.rank); a.append(Int32(sourceRank)); a.append(mask)
        try epRankMask.launch(grid: (min((tokens + 255) / 256, 4096), 1, 1), block: (256, 1, 1), stream: stream, arguments: a)
        try enqueueRankRows(mask: mask, chunkBegin: chunkBegin, ranks: ranks, chunks: chunks, write: false, rowBase: 0,
                            counts: counts, sendIndex: 0, rowOf: 0, stream: stream)
    }

    /// Step 2, once the host turned the counts into each (chunk, rank)'s first row (`rowBase`, int32 [chunks·R]):
    /// `sendIndex` [rows] (the token of each row), `sendSlots`/`sendScores` [rows, K], `rowsOfToken` [T, K] (a token's
    /// rows, ascending, −1 after) and `scorePosition` [T, K] (row·K + k of the row serving choice k, −1 if dropped).
    /// `rowOf` is scratch of T·R int32.
    public func enqueueDispatchRows(
        expertIndex: UInt64, scores: UInt64, tokens: Int, topK: Int, ranks: Int, sourceRank: Int,
        replicas: GPUReplicaTable, chunkBegin: UInt64, chunks: Int, mask: UInt64, rowBase: UInt64, rowOf: UInt64,
        sendIndex: UInt64, sendSlots: UInt64, sendScores: UInt64, rowsOfToken: UInt64, scorePosition: UInt64,
        stream: CUDAStream?
    ) throws {
        guard tokens > 0 else { return }
        try enqueueRankRows(mask: mask, chunkBegin: chunkBegin, ranks: ranks, chunks: chunks, write: true,
                            rowBase: rowBase, counts: 0, sendIndex: sendIndex, rowOf: rowOf, stream: stream)
        var a = KernelArguments()
        a.append(expertIndex); a.append(scores); a.append(Int32(tokens)); a.append(Int32(topK)); a.append(Int32(ranks))
        a.append(mask); a.append(rowOf); a.append(replicas.offset); a.append(replicas.count); a.append(replicas.rank)
        a.append(replicas.slot); a.append(Int32(sourceRank)); a.append(sendSlots); a.append(sendScores)
        a.append(rowsOfToken); a.append(scorePosition)
        try epTokenRows.launch(grid: (min((tokens + 127) / 128, 4096), 1, 1), block: (128, 1, 1), stream: stream,
                               arguments: a)
    }

    /// FP8 dispatch, send side: rows X[index[r]] (bf16 [*, d]) as E4M3 codes [rows, d] and one fp32 scale per 1×128
    /// block [rows, ⌈d/128⌉], the host's `QuantizedTensor` rule (see moe_elementwise.cu).
    public func enqueuePackFP8Rows(
        input: UInt64, index: UInt64, rows: Int, width d: Int, codes: UInt64, scales: UInt64, stream: CUDAStream?
    ) throws {
        guard rows > 0 else { return }
        var a = KernelArguments()
        a.append(input); a.append(index); a.append(Int32(d)); a.append(codes); a.append(scales)
        try packFP8Rows.launch(grid: (rows, 1, 1), block: (128, 1, 1), stream: stream, arguments: a)
    }

    /// FP8 dispatch, receive side: bf16 rows [rows, d] = code · scale.
    public func enqueueUnpackFP8Rows(
        codes: UInt64, scales: UInt64, rows: Int, width d: Int, out: UInt64, stream: CUDAStream?
    ) throws {
        guard rows > 0 else { return }
        var a = KernelArguments()
        a.append(codes); a.append(scales); a.append(Int32(d)); a.append(out)
        try unpackFP8Rows.launch(grid: (rows, 1, 1), block: (128, 1, 1), stream: stream, arguments: a)
    }

    /// One plan over several chunks' plans (`sy_merge_plans`): `offsetsOf` and `gatherOf` are device arrays of
    /// `chunks` addresses (each chunk workspace's ``GPUWorkspace/planOffsets`` and ``GPUWorkspace/planGather``),
    /// `positionBase` and `rowBase` int32 [chunks] (where each chunk's positions and rows start in the pass-wide
    /// buffers). Fills `plan`: offsets [E + 1], position and row [Σ positions].
    public func enqueueMergePlans(
        offsetsOf: UInt64, gatherOf: UInt64, positionBase: UInt64, rowBase: UInt64, chunks: Int, experts: Int,
        into plan: GPUMoELayer.MergedPlan, stream: CUDAStream?
    ) throws {
        var a = KernelArguments()
        a.append(offsetsOf); a.append(gatherOf); a.append(positionBase); a.append(rowBase); a.append(Int32(chunks))
        a.append(Int32(experts)); a.append(plan.offsets); a.append(plan.position); a.append(plan.row)
        try mergePlans.launch(grid: (1, 1, 1), block: (1024, 1, 1), stream: stream, arguments: a)
    }

    private func enqueueRankRows(
        mask: UInt64, chunkBegin: UInt64, ranks: Int, chunks: Int, write: Bool, rowBase: UInt64, counts: UInt64,
        sendIndex: UInt64, rowOf: UInt64, stream: CUDAStream?
    ) throws {
        var a = KernelArguments()
        a.append(mask); a.append(chunkBegin); a.append(Int32(ranks)); a.append(Int32(write ? 1 : 0)); a.append(rowBase)
        a.append(counts); a.append(sendIndex); a.append(rowOf)
        try epRankRows.launch(grid: (ranks, chunks, 1), block: (1024, 1, 1), stream: stream, arguments: a)
    }
}
