/// E8M0: the OCP Microscaling scale format. 8 exponent bits, no sign, no mantissa, bias 127:
/// code b is 2^(b − 127) for b in 0...254 (2^-127 ... 2^127), and 0xFF is NaN. There is no zero.
///
/// ```swift
/// Float8E8M0(exponent: -3).floatValue   // 0.125
/// Float8E8M0(0.7).floatValue             // 0.5
/// ```
public struct Float8E8M0: Sendable, Hashable {
    public var bitPattern: UInt8

    /// The NaN code, 0xFF.
    public static let nan = Float8E8M0(bitPattern: 0xFF)

    @inlinable
    public init(bitPattern: UInt8) { self.bitPattern = bitPattern }

    /// The scale 2^`exponent`; `exponent` must lie in -127...127.
    @inlinable
    public init(exponent: Int) {
        precondition((-127...127).contains(exponent), "E8M0 exponent \(exponent) is outside -127...127")
        bitPattern = UInt8(exponent + 127)
    }

    /// The power of two nearest to `value`, ties (1.5 × 2^k) rounding up to 2^(k+1) as ml_dtypes does.
    /// Positive finite values saturate to 2^-127 ... 2^127. Zero, negative values, infinities and NaN,
    /// which E8M0 cannot hold, give NaN (as ml_dtypes' `float8_e8m0fnu` cast does).
    @inlinable
    public init(_ value: Float) {
        guard value > 0, value.isFinite else {
            bitPattern = 0xFF
            return
        }
        // `exponent` and `significand` are exact for float32 subnormals too.
        let nearest = Int(value.exponent) + (value.significand >= 1.5 ? 1 : 0)
        bitPattern = UInt8(min(max(nearest, -127), 127) + 127)
    }

    @inlinable
    public var isNaN: Bool { bitPattern == 0xFF }

    /// The unbiased exponent k of the scale 2^k, or nil for NaN.
    @inlinable
    public var exponent: Int? { isNaN ? nil : Int(bitPattern) - 127 }

    /// 2^(bitPattern − 127), exact in float32 (2^-127 is a float32 subnormal); NaN for 0xFF.
    @inlinable
    public var floatValue: Float {
        if isNaN { return .nan }
        // The code is the float32 exponent field of the value; code 0 is the subnormal 2^-127.
        return bitPattern == 0 ? Float(bitPattern: 0x0040_0000) : Float(bitPattern: UInt32(bitPattern) << 23)
    }
}
