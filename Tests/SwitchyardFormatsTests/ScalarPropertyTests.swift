import SwitchyardFormats
import Testing

/// Round trips and hand-computed cases for the scalar formats.
@Suite struct ScalarPropertyTests {
    @Test func e4m3fnRoundTripsEveryValue() {
        for code in UInt8.min...UInt8.max where !Float8E4M3FN(bitPattern: code).isNaN {
            #expect(Float8E4M3FN(Float8E4M3FN(bitPattern: code).floatValue).bitPattern == code, "code \(code)")
        }
    }

    @Test func e5m2RoundTripsEveryFiniteValue() {
        for code in UInt8.min...UInt8.max {
            let value = Float8E5M2(bitPattern: code)
            guard !value.isNaN, !value.isInfinite else { continue }
            #expect(Float8E5M2(value.floatValue).bitPattern == code, "code \(code)")
        }
    }

    @Test func e8m0RoundTripsEveryScale() {
        for exponent in -127...127 {
            let scale = Float8E8M0(exponent: exponent)
            #expect(scale.floatValue == Float(sign: .plus, exponent: exponent, significand: 1))
            #expect(Float8E8M0(scale.floatValue) == scale)
            #expect(scale.exponent == exponent)
        }
        #expect(Float8E8M0.nan.exponent == nil)
    }

    @Test func bfloat16RoundTripsRandomValues() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let value = BFloat16(bitPattern: UInt16.random(in: .min ... .max, using: &generator))
            guard !value.floatValue.isNaN else { continue }
            #expect(BFloat16(value.floatValue) == value)
            #expect(roundedToBFloat16(value.floatValue).bitPattern == value.floatValue.bitPattern)
        }
    }

    @Test func fp8SaturatesFiniteOverflowAndInfinity() {
        // 464 is the tie between 448 and the 480 E4M3FN lacks; beyond max everything is ±448.
        for value: Float in [448, 464, 479, 1e10, .greatestFiniteMagnitude, .infinity] {
            #expect(Float8E4M3FN(value).bitPattern == 0x7E, "\(value)")
            #expect(Float8E4M3FN(-value).bitPattern == 0xFE, "\(-value)")
        }
        for value: Float in [57344, 61440, 65536, 1e10, .infinity] {
            #expect(Float8E5M2(value).bitPattern == 0x7B, "\(value)")
            #expect(Float8E5M2(-value).floatValue == -57344, "\(-value)")
        }
        #expect(Float8E5M2(bitPattern: 0xFC).floatValue == -.infinity)
    }

    @Test func fp8NaNStaysNaNWithItsSign() {
        #expect(Float8E4M3FN(.nan).bitPattern == 0x7F)
        #expect(Float8E4M3FN(-.nan).bitPattern == 0xFF)
        #expect(Float8E5M2(.nan).bitPattern == 0x7F)
        #expect(Float8E5M2(-.nan).bitPattern == 0xFF)
        #expect(Float8E5M2(bitPattern: 0x7D).floatValue.isNaN)
        #expect(Float8E4M3FN(bitPattern: 0xFF).floatValue.sign == .minus)
    }

    @Test func fp8SubnormalsRoundToNearestEven() {
        let e4m3Quantum = Float(sign: .plus, exponent: -9, significand: 1)
        #expect(Float8E4M3FN(e4m3Quantum).bitPattern == 0x01)
        #expect(Float8E4M3FN(e4m3Quantum / 2).bitPattern == 0x00)  // tie, to even 0
        #expect(Float8E4M3FN(e4m3Quantum * 1.5).bitPattern == 0x02)  // tie, to even 2
        #expect(Float8E4M3FN(e4m3Quantum * 2.5).bitPattern == 0x02)  // tie, to even 2
        #expect(Float8E4M3FN(e4m3Quantum * 7.5).bitPattern == 0x08)  // tie into the smallest normal, 2^-6
        #expect(Float8E4M3FN(-e4m3Quantum * 0.51).bitPattern == 0x81)
        let e5m2Quantum = Float(sign: .plus, exponent: -16, significand: 1)
        #expect(Float8E5M2(e5m2Quantum * 3).floatValue == e5m2Quantum * 3)
        #expect(Float8E5M2(e5m2Quantum * 3.5).bitPattern == 0x04)  // tie, to even 4 (the smallest normal)
        #expect(Float8E5M2(e5m2Quantum * 0.49).bitPattern == 0x00)
    }

    @Test func e8m0RoundsToNearestPowerOfTwoTiesUp() {
        #expect(Float8E8M0(1.5).floatValue == 2)
        #expect(Float8E8M0(1.4999).floatValue == 1)
        #expect(Float8E8M0(3).floatValue == 4)
        #expect(Float8E8M0(0.74).floatValue == 0.5)
        // Float32 subnormals: 2^-127 is the smallest scale, 2^-126 the next; the tie is 1.5 × 2^-127.
        let smallest = Float(sign: .plus, exponent: -127, significand: 1)
        #expect(Float8E8M0(smallest * 1.49).bitPattern == 0x00)
        #expect(Float8E8M0(smallest * 1.5).bitPattern == 0x01)
        #expect(Float8E8M0(.leastNonzeroMagnitude).bitPattern == 0x00)
        // Finite overflow saturates; what E8M0 cannot hold is NaN.
        #expect(Float8E8M0(.greatestFiniteMagnitude).bitPattern == 0xFE)
        for value: Float in [0, -0.0, -1, .infinity, .nan] {
            #expect(Float8E8M0(value).isNaN, "\(value)")
        }
    }
}
