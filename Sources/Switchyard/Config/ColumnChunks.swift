/// How the GPU layer splits the hidden dimension d so that Y (T·K·d bf16, the down-projection's output, the largest
/// activation) exists for one column chunk at a time: the down-projection computes Y[:, chunk] for every row, and
/// the combine writes O[:, chunk]; the backward pass's dX rows, the router's dX and the sum over each token's K rows
/// run in the same chunks. Every chunk's GEMM sees each expert's whole rows (so no expert's last tile is cut short
/// again per chunk) and reads only its own columns of the weights; what a chunk reads again is A (or dH). The GPU
/// workspace and the performance model both size chunks here.
///
/// ```swift
/// ColumnChunks.columns(topK: 16, hidden: 4096, capacity: 32768)   // 1024: four chunks of 1 GiB of Y
/// ColumnChunks.ranges(hidden: 4096, columns: 1024)                // [0..<1024, 1024..<2048, 2048..<3072, 3072..<4096]
/// ```
///
/// These replaced token chunks (v17, docs/kernel-notes.md): a token chunk cut every expert's last tile short once
/// per chunk and read all of W1 and W2 again.
public enum ColumnChunks {
    /// Y is limited to this many bytes per chunk by default (1 GiB): the 30B and 120B configurations of MOE.md then
    /// stay under SonicMoE's activation memory. 7B-n256 and the 1.4B shapes, one chunk each, stay above it
    /// (`--chunk-columns 512` takes 7B-n256 under it; the 1.4B shapes' H and A alone are over it).
    public static let defaultYBytes = 1 << 30

    /// The unit chunks are cut in: 256 columns (the widest GEMM tile) when d allows it, else 128, else 64.
    public static func granule(hidden: Int) -> Int {
        hidden % 256 == 0 ? 256 : hidden % 128 == 0 ? 128 : 64
    }

    /// Columns per chunk. `requested`, when given, is rounded up to a multiple of 64 and clamped to 64 ... hidden.
    /// Else the fewest chunks whose Y (capacity·K rows of the chunk's columns, bf16) is at most ``defaultYBytes``,
    /// as equal as whole granules allow (the last chunk may be narrower); one granule when even that is over.
    public static func columns(topK: Int, hidden: Int, capacity: Int, requested: Int? = nil) -> Int {
        let d = max(hidden, 1)
        if let requested { return min(d, max(64, (requested + 63) / 64 * 64)) }
        let g = granule(hidden: d)
        let rowBytes = max(capacity, 1) * max(topK, 1) * 2  // one column of Y
        let fit = defaultYBytes / rowBytes / g * g
        if fit >= d { return d }
        let chunks = (d + max(fit, g) - 1) / max(fit, g)
        let granules = (d / g + chunks - 1) / chunks
        return min(d, granules * g)
    }

    /// The column ranges of chunks `columns` wide over `hidden` (the last one may be narrower).
    public static func ranges(hidden: Int, columns: Int) -> [Range<Int>] {
        let width = max(columns, 1)
        return stride(from: 0, to: hidden, by: width).map { $0..<min($0 + width, hidden) }
    }
}

/// The GPU forward workspace's buffers for up to `capacity` tokens, in bytes: what `GPUWorkspace` allocates, one
/// buffer each, and so MOE.md's peak activation memory of the forward pass (`switchyard bench`'s "act GiB"). The
/// largest are H [rows, 2n] (kept for backward), A [rows, n] and Y [rows, chunkColumns] (bf16, rows = capacity·K).
///
/// ```swift
/// let layout = ForwardWorkspaceLayout(hidden: 1536, intermediate: 256, experts: 128, topK: 8, capacity: 24576,
///                                     chunkColumns: 512)
/// layout.total   // ≈ 0.56 GiB (7B-n256 in three chunks)
/// ```
public struct ForwardWorkspaceLayout: Sendable, Equatable {
    /// Assignments handled by one block of the routing kernels (their per-chunk counts are kept).
    public static let routeChunk = 256

    public let logits, expertIndex, scores, chunkCounts, localRank, counts, offsets, tileOffsets: Int
    public let gatherIndex, assignmentOfPosition, scoreOfPosition, positionOfAssignment: Int
    public let singleOffsets, singleTileOffsets: Int
    public let hidden, activation, expertOutput, output: Int

    /// `keepsActivation` false: no A (a forward whose down-projection computes A from H as it loads it).
    public init(
        hidden d: Int, intermediate n: Int, experts E: Int, topK K: Int, capacity: Int, chunkColumns: Int,
        keepsActivation: Bool = true
    ) {
        let rows = max(capacity * K, 1)
        let chunks = (rows + Self.routeChunk - 1) / Self.routeChunk
        logits = max(capacity, 1) * E * 4
        expertIndex = rows * 4
        scores = rows * 4
        chunkCounts = chunks * E * 4
        localRank = rows * 4
        counts = E * 4
        offsets = (E + 1) * 4
        tileOffsets = (E + 1) * 4
        gatherIndex = rows * 4
        assignmentOfPosition = rows * 4
        scoreOfPosition = rows * 4
        positionOfAssignment = rows * 4
        singleOffsets = 8
        singleTileOffsets = 8
        hidden = rows * 2 * n * 2
        activation = keepsActivation ? rows * n * 2 : 0
        expertOutput = rows * chunkColumns * 2
        output = max(capacity, 1) * d * 2
    }

    /// Every buffer's bytes, in allocation order.
    public var buffers: [Int] {
        let routing: [Int] = [logits, expertIndex, scores, chunkCounts, localRank, counts, offsets, tileOffsets]
        let plan: [Int] = [gatherIndex, assignmentOfPosition, scoreOfPosition, positionOfAssignment, singleOffsets,
                           singleTileOffsets]
        let activations: [Int] = [hidden, activation, expertOutput, output]
        return routing + plan + activations
    }

    /// Bytes in all (a buffer of 0 bytes is allocated as 1).
    public var total: Int { buffers.reduce(0) { $0 + max($1, 1) } }
}

extension ColumnChunks {
    /// `bytes` in GiB with three decimals, e.g. "0.595" (no Foundation in this module).
    static func gibibytes(_ bytes: Int) -> String {
        let thousandths = (Double(bytes) / Double(1 << 30) * 1000).rounded()
        let whole = Int(thousandths) / 1000, fraction = Int(thousandths) % 1000
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: 3 - digits.count) + digits
    }

    /// How a forward pass fits an activation budget: its column chunks, and whether it keeps A.
    public struct BudgetPlan: Sendable, Equatable {
        public let columns: Int
        /// false: the down-projection computes A = SwiGLU(H) as it loads H, and no A is stored.
        public let keepsActivation: Bool
        public let bytes: Int

        public init(columns: Int, keepsActivation: Bool, bytes: Int) {
            self.columns = columns
            self.keepsActivation = keepsActivation
            self.bytes = bytes
        }
    }

    /// The fastest forward whose workspace (``ForwardWorkspaceLayout``) takes at most `budget` bytes, in this order
    /// of preference (measured on an H200, docs/kernel-notes.md, "What is left", item 8):
    /// 1. A kept, chunks of whole granules (``granule(hidden:)``: 256 columns where d allows, so the chunks' GEMMs
    ///    keep their widest tiles), the widest that fit;
    /// 2. no A (when `activationFree`: the device has the A-free down-projection, which needs chunks of a multiple of
    ///    256 and at most 256 experts), chunks of whole granules, the widest that fit;
    /// 3. A kept, chunks of a multiple of 64 below one granule, the widest that fit (narrow tiles: the slowest).
    /// The chunks are then made as equal as their unit allows over the same number of chunks. Throws
    /// ``SwitchyardError`` when nothing fits, naming the least the shape needs (H, O and the routing buffers do not
    /// shrink with chunks).
    public static func plan(
        hidden d: Int, intermediate n: Int, experts E: Int, topK K: Int, capacity: Int, activationBudget budget: Int,
        activationFree: Bool = false
    ) throws -> BudgetPlan {
        func bytes(_ columns: Int, _ keeps: Bool) -> Int {
            ForwardWorkspaceLayout(hidden: d, intermediate: n, experts: E, topK: K, capacity: capacity,
                                   chunkColumns: min(columns, d), keepsActivation: keeps).total
        }
        let g = granule(hidden: d)
        let wide = Array(stride(from: (d + g - 1) / g * g, through: g, by: -g))
        let narrow = Array(stride(from: g - 64, through: 64, by: -64))
        let freeAllowed = activationFree && g == 256 && E <= 256
        var candidates = wide.map { ($0, true) }
        if freeAllowed { candidates += wide.map { ($0, false) } }
        candidates += narrow.map { ($0, true) }
        guard let (fit, keeps) = candidates.first(where: { bytes($0.0, $0.1) <= budget }) else {
            let least = candidates.map { bytes($0.0, $0.1) }.min() ?? 0
            let how = freeAllowed ? "without A, in chunks of \(g) columns" : "with chunks of 64 columns"
            let message = "an activation budget of \(Self.gibibytes(budget)) GiB is below the \(Self.gibibytes(least)) GiB "
                + "this shape needs \(how) (H, O and the routing buffers do not shrink with chunks)"
            throw SwitchyardError(.invalidConfiguration, message)
        }
        let unit = fit >= g ? g : 64
        let chunks = (d + fit - 1) / fit
        let columns = min(d, ((d + chunks - 1) / chunks + unit - 1) / unit * unit)
        return BudgetPlan(columns: columns, keepsActivation: keeps, bytes: bytes(columns, keeps))
    }

    /// The widest column chunks with A kept that fit `budget` (``plan(hidden:intermediate:experts:topK:capacity:activationBudget:activationFree:)``
    /// without the A-free forward).
    public static func columns(
        hidden d: Int, intermediate n: Int, experts E: Int, topK K: Int, capacity: Int, activationBudget budget: Int
    ) throws -> Int {
        try plan(hidden: d, intermediate: n, experts: E, topK: K, capacity: capacity, activationBudget: budget).columns
    }
}
