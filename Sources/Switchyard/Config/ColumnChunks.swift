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
