/// How the GPU layer splits a pass's tokens so that Y (T·K·d bf16, the down-projection's output, the largest
/// activation) exists for one chunk at a time; the backward pass's dX runs in the same chunks. The GPU workspace
/// and the performance model both size chunks here.
///
/// ```swift
/// TokenChunks.tokens(topK: 16, hidden: 4096, capacity: 32768)   // 8192: 1 GiB of Y a chunk
/// ```
public enum TokenChunks {
    /// Y is limited to this many bytes per chunk by default (1 GiB).
    public static let defaultYBytes = 1 << 30

    /// Tokens per chunk: `requested` when given (clamped to 1 ... capacity), else as many as fit ``defaultYBytes``
    /// of Y (K·d bf16 values a token).
    public static func tokens(topK: Int, hidden: Int, capacity: Int, requested: Int? = nil) -> Int {
        let fit = requested ?? defaultYBytes / max(topK * hidden * 2, 1)
        return max(1, min(max(capacity, 1), fit))
    }
}
