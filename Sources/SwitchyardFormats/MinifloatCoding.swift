// Shared bit arithmetic for the 8-bit floats with a sign bit (E4M3FN, E5M2).
// A format is described by its mantissa width, exponent bias and the code of its largest finite magnitude;
// callers pass these as literals so the optimizer folds them.

/// Rounds `value` to the nearest code of the format (ties to even), saturating finite values and infinities
/// to ±max (NVIDIA's `__NV_SATFINITE`). NaN gives `sign | 0x7F`, the all-ones pattern.
@inlinable
func encodeMinifloat(_ value: Float, mantissaBits: Int, bias: Int, maxMagnitude: UInt8) -> UInt8 {
    let bits = value.bitPattern
    let sign = UInt8(truncatingIfNeeded: bits >> 24) & 0x80
    let magnitude = bits & 0x7FFF_FFFF
    if magnitude > 0x7F80_0000 { return sign | 0x7F }
    if magnitude == 0x7F80_0000 { return sign | maxMagnitude }
    // float32 bit pattern of 2^(1 − bias), the format's smallest normal magnitude.
    let smallestNormal = UInt32(128 - bias) << 23
    if magnitude < smallestNormal {
        // Subnormal range: the code is the number of quanta 2^(1 − bias − mantissaBits), rounded to even.
        // Scaling by a power of two is exact, so only the final rounding happens. A count of
        // 2^mantissaBits is the smallest normal's code, so rounding up into the normal range is right too.
        let inverseQuantum = Float(bitPattern: UInt32(126 + bias + mantissaBits) << 23)
        let quanta = (Float(bitPattern: magnitude) * inverseQuantum).rounded(.toNearestOrEven)
        return sign | UInt8(quanta)
    }
    // Normal range: round the float32 pattern at the format's last mantissa bit (ties to even); a mantissa
    // carry moves into the exponent field, as it should. Then rebias the exponent.
    let shift = UInt32(23 - mantissaBits)
    let lowestKept = (magnitude >> shift) & 1
    let rounded = (magnitude &+ (1 << (shift - 1)) &- 1 &+ lowestKept) >> shift
    let code = rounded &- (UInt32(127 - bias) << UInt32(mantissaBits))
    return sign | UInt8(min(code, UInt32(maxMagnitude)))
}

/// The value of a finite code (the caller filters NaN and infinity codes first).
@inlinable
func decodeFiniteMinifloat(_ code: UInt8, mantissaBits: Int, bias: Int) -> Float {
    let sign = UInt32(code & 0x80) << 24
    let magnitude = UInt32(code & 0x7F)
    if magnitude >> UInt32(mantissaBits) == 0 {
        // Subnormal: mantissa × 2^(1 − bias − mantissaBits), exact in float32.
        let quantum = Float(bitPattern: UInt32(128 - bias - mantissaBits) << 23)
        return Float(bitPattern: sign | (Float(magnitude) * quantum).bitPattern)
    }
    let rebiased = magnitude &+ (UInt32(127 - bias) << UInt32(mantissaBits))
    return Float(bitPattern: sign | (rebiased << UInt32(23 - mantissaBits)))
}

/// A quiet NaN carrying the sign bit of `code`.
@inlinable
func signedNaN(_ code: UInt8) -> Float {
    Float(bitPattern: (UInt32(code & 0x80) << 24) | 0x7FC0_0000)
}
