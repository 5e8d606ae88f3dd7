/// bfloat16: the high 16 bits of an IEEE float32, rounded to nearest even. NaN stays NaN (quiet).
public struct BFloat16: Sendable, Hashable {
    public var bitPattern: UInt16

    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Round-to-nearest-even conversion from Float.
    @inlinable
    public init(_ value: Float) {
        let bits = value.bitPattern
        if value.isNaN {
            bitPattern = UInt16(truncatingIfNeeded: bits >> 16) | 0x0040
        } else {
            let lsb = (bits >> 16) & 1
            bitPattern = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ lsb) >> 16)
        }
    }

    @inlinable
    public var floatValue: Float { Float(bitPattern: UInt32(bitPattern) << 16) }
}

/// `value` rounded to the nearest bf16, returned as Float.
@inlinable
public func roundedToBFloat16(_ value: Float) -> Float { BFloat16(value).floatValue }
