import SwitchyardFormats
import Testing

/// Every code of each 8-bit format decodes, and every encode vector encodes, bit for bit as ml_dtypes does
/// (with Switchyard's saturating convention applied to the reference inputs; see the generator).
@Suite struct ScalarVectorTests {
    let decode: Vectors.Decode
    let encode: Vectors.Encode

    init() throws {
        decode = try Vectors.load("decode", as: Vectors.Decode.self)
        encode = try Vectors.load("encode", as: Vectors.Encode.self)
    }

    /// Compares decoded values: bit-exact, except that any NaN matches a NaN of the same sign.
    func expectSameValue(_ actual: Float, _ expectedBits: UInt32, code: Int, format: String) {
        let expected = Float(bitPattern: expectedBits)
        if expected.isNaN {
            #expect(actual.isNaN && actual.sign == expected.sign, "\(format) code \(code): \(actual), want NaN")
        } else {
            #expect(actual.bitPattern == expectedBits, "\(format) code \(code): \(actual), want \(expected)")
        }
    }

    @Test func decodesAll256CodesOfE4M3FN() {
        #expect(decode.e4m3fn.count == 256)
        for (code, bits) in decode.e4m3fn.enumerated() {
            expectSameValue(Float8E4M3FN(bitPattern: UInt8(code)).floatValue, bits, code: code, format: "E4M3FN")
        }
    }

    @Test func decodesAll256CodesOfE5M2() {
        #expect(decode.e5m2.count == 256)
        for (code, bits) in decode.e5m2.enumerated() {
            expectSameValue(Float8E5M2(bitPattern: UInt8(code)).floatValue, bits, code: code, format: "E5M2")
        }
    }

    @Test func decodesAll256CodesOfE8M0() {
        #expect(decode.e8m0.count == 256)
        for (code, bits) in decode.e8m0.enumerated() {
            expectSameValue(Float8E8M0(bitPattern: UInt8(code)).floatValue, bits, code: code, format: "E8M0")
        }
    }

    /// Runs `encoder` over a case: exact codes, or for -1 a NaN code (`isNaN`) with the input's sign bit.
    func check(
        _ vectors: Vectors.EncodeCase, format: String, signBit: Int,
        _ encoder: (Float) -> (code: Int, isNaN: Bool)
    ) {
        #expect(vectors.inputs.count == vectors.codes.count && vectors.inputs.count > 1000)
        var failures = 0
        for (bits, expected) in zip(vectors.inputs, vectors.codes) {
            let input = Float(bitPattern: bits)
            let (code, isNaN) = encoder(input)
            let ok = expected == -1
                ? isNaN && (code >> signBit) & 1 == Int(bits >> 31)
                : code == expected
            if !ok, failures < 10 {
                failures += 1
                Issue.record("\(format) encode of \(input) (0x\(String(bits, radix: 16))): 0x\(String(code, radix: 16)), want \(expected == -1 ? "NaN" : "0x" + String(expected, radix: 16))")
            }
        }
    }

    @Test func encodesBFloat16Vectors() {
        check(encode.bf16, format: "bf16", signBit: 15) { value in
            let bf16 = BFloat16(value)
            return (Int(bf16.bitPattern), bf16.floatValue.isNaN)
        }
    }

    @Test func encodesE4M3FNVectors() {
        check(encode.e4m3fn, format: "E4M3FN", signBit: 7) { value in
            let fp8 = Float8E4M3FN(value)
            return (Int(fp8.bitPattern), fp8.isNaN)
        }
    }

    @Test func encodesE5M2Vectors() {
        check(encode.e5m2, format: "E5M2", signBit: 7) { value in
            let fp8 = Float8E5M2(value)
            return (Int(fp8.bitPattern), fp8.isNaN)
        }
    }

    @Test func encodesE8M0Vectors() {
        check(encode.e8m0, format: "E8M0", signBit: 7) { value in
            let scale = Float8E8M0(value)
            return (Int(scale.bitPattern), scale.isNaN)
        }
    }
}
