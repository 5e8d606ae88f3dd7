/// FP8 E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits, IEEE-like: largest finite magnitude 57344,
/// S.11111.00 is ±infinity, S.11111.xx (xx ≠ 0) is NaN. Subnormals are multiples of 2^-16.
///
/// Conversion from `Float` rounds to nearest even and saturates: finite values beyond ±57344 *and*
/// ±infinity become ±57344, as NVIDIA's `__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E5M2)` does
/// (ml_dtypes' plain cast gives ±infinity instead). NaN stays NaN (encoded S.11111.11).
/// Decoding the infinity codes gives ±infinity.
///
/// ```swift
/// Float8E5M2(0.3).floatValue        // 0.3125
/// Float8E5M2(.infinity).floatValue  // 57344
/// ```
///
/// Equality compares bit patterns (+0 and −0 differ).
public struct Float8E5M2: Sendable, Hashable {
    public var bitPattern: UInt8

    /// The largest finite magnitude, 57344.
    public static let greatestFiniteMagnitude: Float = 57344

    @inlinable
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }

    /// Round-to-nearest-even, saturating conversion from Float.
    @inlinable
    public init(_ value: Float) {
        bitPattern = encodeMinifloat(value, mantissaBits: 2, bias: 15, maxMagnitude: 0x7B)
    }

    @inlinable
    public var isNaN: Bool { bitPattern & 0x7F > 0x7C }

    @inlinable
    public var isInfinite: Bool { bitPattern & 0x7F == 0x7C }

    /// The exact value: ±infinity for S.11111.00, a NaN with the code's sign for the NaN codes.
    @inlinable
    public var floatValue: Float {
        if isNaN { return signedNaN(bitPattern) }
        if isInfinite { return bitPattern & 0x80 == 0 ? .infinity : -.infinity }
        return decodeFiniteMinifloat(bitPattern, mantissaBits: 2, bias: 15)
    }
}
