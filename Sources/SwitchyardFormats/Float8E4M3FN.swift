/// FP8 E4M3 "fn": 1 sign, 4 exponent (bias 7), 3 mantissa bits; finite only, largest magnitude 448,
/// NaN = S.1111.111. Subnormals are multiples of 2^-9.
///
/// Conversion from `Float` rounds to nearest even and saturates: finite values beyond ±448 and ±infinity
/// become ±448, as NVIDIA's `__nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3)` does. NaN stays NaN.
///
/// ```swift
/// Float8E4M3FN(0.3).floatValue      // 0.3125
/// Float8E4M3FN(1000).floatValue     // 448
/// ```
///
/// Equality compares bit patterns (+0 and −0 differ; a NaN equals itself).
public struct Float8E4M3FN: Sendable, Hashable {
    public var bitPattern: UInt8

    /// The largest finite magnitude, 448.
    public static let greatestFiniteMagnitude: Float = 448

    @inlinable
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }

    /// Round-to-nearest-even, saturating conversion from Float.
    @inlinable
    public init(_ value: Float) {
        bitPattern = encodeMinifloat(value, mantissaBits: 3, bias: 7, maxMagnitude: 0x7E)
    }

    @inlinable
    public var isNaN: Bool { bitPattern & 0x7F == 0x7F }

    /// The exact value; NaN codes give a NaN with the code's sign.
    @inlinable
    public var floatValue: Float {
        isNaN ? signedNaN(bitPattern) : decodeFiniteMinifloat(bitPattern, mantissaBits: 3, bias: 7)
    }
}
