/// The element format of a quantized tensor: FP8 E4M3FN or E5M2.
///
/// ```swift
/// let code = FP8Format.e4m3.encode(3.3)   // 0x45
/// FP8Format.e4m3.decode(code)               // 3.25
/// ```
public enum FP8Format: String, Sendable, Hashable, CaseIterable {
    /// ``Float8E4M3FN``: more precision, range ±448. The default for activations and weights.
    case e4m3
    /// ``Float8E5M2``: more range, ±57344. Sometimes used for gradients.
    case e5m2

    /// The largest finite magnitude: 448 or 57344.
    @inlinable
    public var greatestFiniteMagnitude: Float {
        switch self {
        case .e4m3: Float8E4M3FN.greatestFiniteMagnitude
        case .e5m2: Float8E5M2.greatestFiniteMagnitude
        }
    }

    /// emax, the exponent of the largest normal power of two (8 for E4M3, 15 for E5M2); the OCP MX scale
    /// rule uses it.
    @inlinable
    public var maxExponent: Int {
        switch self {
        case .e4m3: 8
        case .e5m2: 15
        }
    }

    /// Round-to-nearest-even, saturating conversion of `value` to this format's bit pattern.
    @inlinable
    public func encode(_ value: Float) -> UInt8 {
        switch self {
        case .e4m3: Float8E4M3FN(value).bitPattern
        case .e5m2: Float8E5M2(value).bitPattern
        }
    }

    /// The exact value of the bit pattern `code`.
    @inlinable
    public func decode(_ code: UInt8) -> Float {
        switch self {
        case .e4m3: Float8E4M3FN(bitPattern: code).floatValue
        case .e5m2: Float8E5M2(bitPattern: code).floatValue
        }
    }
}
