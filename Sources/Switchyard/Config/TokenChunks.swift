/// How the GPU layer splits a pass's tokens so that Y (T·K·d bf16, the down-projection's output, the largest
/// activation) exists for one chunk at a time; the backward pass's dX runs in the same chunks. The GPU workspace
/// and the performance model both size chunks here.
///
/// ```swift
/// TokenChunks.tokens(topK: 16, hidden: 4096, capacity: 32768)   // 10923: three chunks of 1.33 GiB of Y
/// ```
///
/// Fewer chunks are faster (each chunk cuts every expert's last tile short and reads W1 again in the backward's dX)
/// and hold more of Y. At 30B-n256 (H200, backward against PyTorch, bench rounds before `--warmup-seconds`):
/// 4 chunks 1.95–1.97×, 2 chunks 2.04×, 1 chunk 2.08× in one call, at 2.05, 3.05 and 5.05 GiB of forward
/// activations (SonicMoE: 2.45); 3 chunks, this default, 1.96–1.97× against 4 chunks' 1.92–1.93× in the next call,
/// at 2.38 GiB. The default budget keeps every configuration of MOE.md under SonicMoE's activation memory.
public enum TokenChunks {
    /// Y is limited to this many bytes per chunk by default (1.5 GiB).
    public static let defaultYBytes = 3 << 29

    /// Tokens per chunk: `requested` when given (clamped to 1 ... capacity); else the capacity split into the
    /// fewest chunks of at most ``defaultYBytes`` of Y (K·d bf16 values a token), all of one size (the last one
    /// up to `chunks − 1` tokens shorter), so that no chunk is a small remainder.
    public static func tokens(topK: Int, hidden: Int, capacity: Int, requested: Int? = nil) -> Int {
        let total = max(capacity, 1)
        if let requested { return max(1, min(total, requested)) }
        let fit = max(1, defaultYBytes / max(topK * hidden * 2, 1))
        let chunks = (total + fit - 1) / fit
        return (total + chunks - 1) / chunks
    }
}
