import Switchyard

/// How the gate and up halves of a fused GLU weight share its last axis of 2n columns.
///
/// Switchyard stores W1 as ``concatenated`` (gate columns 0..<n, then up columns n..<2n). Some checkpoints
/// (gpt-oss's `gate_up_proj`, several fused kernels) store ``interleaved`` columns g0, u0, g1, u1, ….
///
/// ```swift
/// // gate_up_proj: [E, d, 2n], interleaved
/// let w1 = try GateUpLayout.interleaved.convert(gateUp, to: .concatenated)
/// ```
public enum GateUpLayout: String, Sendable, Hashable, CaseIterable {
    case concatenated
    case interleaved

    /// `weight` (any rank ≥ 1; the last axis holds 2n columns) rearranged from this layout to `target`.
    /// Throws `shapeMismatch` when the last axis is missing or odd.
    public func convert<Scalar>(_ weight: Tensor<Scalar>, to target: GateUpLayout) throws -> Tensor<Scalar> {
        guard let width = weight.shape.last, width % 2 == 0 else {
            throw SwitchyardError(
                .shapeMismatch, "a fused gate/up weight needs an even last axis (2n columns), got shape \(weight.shape)")
        }
        guard self != target else { return weight }
        let n = width / 2
        var out = weight
        for rowStart in stride(from: 0, to: weight.count, by: width) {
            for j in 0..<n {
                let (concatenatedGate, concatenatedUp) = (rowStart + j, rowStart + n + j)
                let (interleavedGate, interleavedUp) = (rowStart + 2 * j, rowStart + 2 * j + 1)
                if self == .interleaved {
                    out.scalars[concatenatedGate] = weight.scalars[interleavedGate]
                    out.scalars[concatenatedUp] = weight.scalars[interleavedUp]
                } else {
                    out.scalars[interleavedGate] = weight.scalars[concatenatedGate]
                    out.scalars[interleavedUp] = weight.scalars[concatenatedUp]
                }
            }
        }
        return out
    }
}
