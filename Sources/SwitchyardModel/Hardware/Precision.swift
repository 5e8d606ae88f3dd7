/// The number format of the expert GEMM operands.
///
/// - ``bf16``: 2-byte operands, bf16 tensor cores.
/// - ``fp8``: E4M3 operands with fp32 scales per 1×128 activation block and per 128×128 weight block
///   (DeepSeek-V3's Hopper recipe).
/// - ``mxfp8``: E4M3 operands with one E8M0 scale per 32 elements (OCP MX). Native on Blackwell; emulated on
///   Hopper by rescaling every 32-wide K block (``Calibration/mxfp8EmulationEfficiency``).
public enum Precision: String, CaseIterable, Sendable, Codable {
    case bf16, fp8, mxfp8

    /// Bytes per activation or gradient element as a GEMM operand, scales included.
    ///
    /// fp8: 1 + 4/128 (an fp32 scale per 128 elements); mxfp8: 1 + 1/32 (a 1-byte scale per 32).
    public var activationBytes: Double {
        switch self {
        case .bf16: 2
        case .fp8: 1 + 4.0 / 128
        case .mxfp8: 1 + 1.0 / 32
        }
    }

    /// Bytes per weight element as a GEMM operand, scales included (fp8: an fp32 scale per 128×128 block).
    public var weightBytes: Double {
        switch self {
        case .bf16: 2
        case .fp8: 1 + 4.0 / (128 * 128)
        case .mxfp8: 1 + 1.0 / 32
        }
    }

    /// Whether the operands need a quantization pass (and column-wise copies for weight gradients).
    public var isQuantized: Bool { self != .bf16 }
}
