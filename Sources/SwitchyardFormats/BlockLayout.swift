/// How an MXFP8 block's shared E8M0 scale is chosen from the block's largest magnitude `amax`.
public enum MXScaleRule: String, Sendable, Hashable, CaseIterable {
    /// The OCP Microscaling v1.0 rule: scale = 2^(floor(log2(amax)) − emax), emax = 8 (E4M3) or 15 (E5M2).
    /// amax / scale lies in [2^emax, 2^(emax+1)), so elements above the format's max saturate.
    case ocp
    /// Round the scale up (NVIDIA's "RCEIL", torchao's default): the smallest power of two with
    /// amax / scale ≤ max, so nothing clips.
    case roundUp
}

/// Which elements share a scale, and how the scale is stored.
///
/// Blocks tile the last two axes of the tensor (a rank-1 tensor is one row); leading axes are a batch,
/// and blocks never cross them. Edge blocks are partial: a row of 100 elements has blocks of 32, 32, 32, 4.
///
/// ```swift
/// let mx = BlockLayout.mx(.roundUp)            // 1×32, E8M0 scales
/// let activations = BlockLayout.tokenwise1x128   // 1×128, fp32 scales
/// let weights = BlockLayout.blockwise128x128     // 128×128, fp32 scales
/// ```
public enum BlockLayout: Sendable, Hashable {
    /// MXFP8: 32 consecutive elements of a row share a power-of-two scale (E8M0), chosen by `rule`.
    case mx(MXScaleRule)
    /// A float32 scale per `rows`×`columns` tile: scale = amax / max of the element format (1 when amax is 0).
    case float32Blocks(rows: Int, columns: Int)

    /// The Hopper recipe for activations and gradients (DeepSeek-V3, DeepGEMM): 1×128, fp32 scales.
    public static let tokenwise1x128 = BlockLayout.float32Blocks(rows: 1, columns: 128)
    /// The Hopper recipe for weights (DeepSeek-V3, DeepGEMM): 128×128, fp32 scales.
    public static let blockwise128x128 = BlockLayout.float32Blocks(rows: 128, columns: 128)

    /// Rows of the last-but-one axis in one block.
    public var blockRows: Int {
        switch self {
        case .mx: 1
        case let .float32Blocks(rows, _): rows
        }
    }

    /// Columns of the last axis in one block.
    public var blockColumns: Int {
        switch self {
        case .mx: 32
        case let .float32Blocks(_, columns): columns
        }
    }
}
