import SwitchyardFormats
import Testing

/// Shapes, errors, the two MX scale rules on hand-computed blocks, and accuracy against float64.
@Suite struct QuantizedTensorTests {
    static func randomValues(_ count: Int, seed: UInt64) -> [Float] {
        // SplitMix64, so that runs are repeatable without depending on another module.
        var state = seed
        return (0..<count).map { _ in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let unit = Double(z >> 11) / Double(1 << 53)
            let exponent = Int(z & 0xF) - 8
            return Float((unit * 2 - 1) * Double(sign: .plus, exponent: exponent, significand: 1))
        }
    }

    @Test func scaleShapesCountBlocksOfTheLastTwoAxes() throws {
        let mx = try QuantizedTensor.quantize([Float](repeating: 1, count: 3 * 4 * 100), shape: [3, 4, 100], layout: .mx(.ocp))
        #expect(mx.scaleShape == [3, 4, 4])
        #expect(mx.scales.count == 48)
        let tiles = try QuantizedTensor.quantize([Float](repeating: 1, count: 130 * 260), shape: [130, 260], layout: .blockwise128x128)
        #expect(tiles.scaleShape == [2, 3])
        let vector = try QuantizedTensor.quantize([Float](repeating: 1, count: 300), shape: [300], layout: .tokenwise1x128)
        #expect(vector.scaleShape == [3])
        let empty = try QuantizedTensor.quantize([], shape: [0, 64], layout: .mx(.roundUp))
        #expect(empty.codes.isEmpty && empty.scales.isEmpty && empty.dequantized().isEmpty)
    }

    @Test func badInputThrows() {
        let cases: [(values: [Float], shape: [Int], layout: BlockLayout, kind: FormatError.Kind)] = [
            ([1, 2, 3], [2, 2], .mx(.ocp), .shapeMismatch),
            ([1], [], .mx(.ocp), .shapeMismatch),
            ([1], [-1, -1], .mx(.ocp), .shapeMismatch),
            ([1, .nan], [2], .tokenwise1x128, .nonFiniteInput),
            ([1, -.infinity], [2], .mx(.roundUp), .nonFiniteInput),
            ([1, 2], [2], .float32Blocks(rows: 1, columns: 0), .invalidLayout),
            ([1, 2], [2], .blockwise128x128, .invalidLayout),
        ]
        for testCase in cases {
            #expect(throws: FormatError.self, "\(testCase.shape) \(testCase.layout)") {
                try QuantizedTensor.quantize(testCase.values, shape: testCase.shape, layout: testCase.layout)
            }
            do {
                _ = try QuantizedTensor.quantize(testCase.values, shape: testCase.shape, layout: testCase.layout)
            } catch {
                #expect(error.kind == testCase.kind, "\(error)")
                #expect(!error.message.isEmpty)
            }
        }
    }

    @Test func assemblingFromPartsValidates() throws {
        let values = Self.randomValues(2 * 70, seed: 1)
        let quantized = try QuantizedTensor.quantize(values, shape: [2, 70], element: .e5m2, layout: .mx(.roundUp))
        let rebuilt = try QuantizedTensor(
            shape: [2, 70], element: .e5m2, layout: .mx(.roundUp), codes: quantized.codes, scales: quantized.scales)
        #expect(rebuilt == quantized)
        #expect(throws: FormatError.self) {
            try QuantizedTensor(shape: [2, 70], element: .e5m2, layout: .mx(.roundUp), codes: quantized.codes, scales: [1])
        }
        #expect(throws: FormatError.self) {
            try QuantizedTensor(shape: [2, 71], element: .e5m2, layout: .mx(.roundUp), codes: quantized.codes, scales: quantized.scales)
        }
        var badScales = quantized.scales
        badScales[0] = 0.75
        #expect(throws: FormatError.self) {
            try QuantizedTensor(shape: [2, 70], element: .e5m2, layout: .mx(.roundUp), codes: quantized.codes, scales: badScales)
        }
        #expect(throws: FormatError.self) {
            try QuantizedTensor(shape: [2, 70], element: .e5m2, layout: .tokenwise1x128, codes: quantized.codes, scales: [-1, 1])
        }
    }

    @Test func mxScaleRulesOnHandComputedBlocks() throws {
        // amax 500: OCP takes 2^(floor(log2 500) − 8) = 1 and 500 saturates to 448; round-up takes 2, and
        // 500 / 2 = 250 rounds (E4M3 step 16 in [128, 256)) to 256, i.e. 512.
        var block = [Float](repeating: 0, count: 32)
        block[0] = 500
        block[1] = -3
        let ocp = try QuantizedTensor.quantize(block, shape: [32], layout: .mx(.ocp))
        let roundUp = try QuantizedTensor.quantize(block, shape: [32], layout: .mx(.roundUp))
        #expect(ocp.scales == [1] && ocp.scaleBitPatterns == [127])
        #expect(roundUp.scales == [2] && roundUp.scaleBitPatterns == [128])
        #expect(Array(ocp.dequantized().prefix(2)) == [448, -3])
        #expect(Array(roundUp.dequantized().prefix(2)) == [512, -3])
        // amax exactly 448: both rules take scale 1; all-zero blocks take 2^-127 (E8M0 code 0).
        block[0] = 448
        #expect(try QuantizedTensor.quantize(block, shape: [32], layout: .mx(.roundUp)).scales == [1])
        let zeros = try QuantizedTensor.quantize([Float](repeating: 0, count: 40), shape: [40], layout: .mx(.ocp))
        #expect(zeros.scaleBitPatterns == [0, 0])
        #expect(zeros.dequantized().allSatisfy { $0 == 0 })
    }

    @Test func float32BlockScalesAreAmaxOverMax() throws {
        let row: [Float] = (0..<200).map { Float($0) - 50 }
        let quantized = try QuantizedTensor.quantize(row + [Float](repeating: 0, count: 56), shape: [2, 128], layout: .tokenwise1x128)
        #expect(quantized.scales == [77 / 448, 149 / 448])
        #expect(quantized.scaleBitPatterns == nil)
        let zero = try QuantizedTensor.quantize([Float](repeating: 0, count: 128), shape: [1, 128], layout: .tokenwise1x128)
        #expect(zero.scales == [1])
    }

    @Test func batchedTilesEqualSeparateMatrices() throws {
        let values = Self.randomValues(3 * 130 * 20, seed: 2)
        let batched = try QuantizedTensor.quantize(values, shape: [3, 130, 20], layout: .blockwise128x128)
        #expect(batched.scaleShape == [3, 2, 1])
        for matrix in 0..<3 {
            let slice = Array(values[(matrix * 2600)..<((matrix + 1) * 2600)])
            let single = try QuantizedTensor.quantize(slice, shape: [130, 20], layout: .blockwise128x128)
            #expect(Array(batched.codes[(matrix * 2600)..<((matrix + 1) * 2600)]) == single.codes)
            #expect(Array(batched.scales[(matrix * 2)..<((matrix + 1) * 2)]) == single.scales)
        }
    }

    /// ‖dequantized − x‖ / ‖x‖ in float64 stays within the element format's unit roundoff (2^-4 for E4M3,
    /// 2^-3 for E5M2) for layouts that never clip; every element stays within it plus the subnormal step.
    @Test(arguments: [
        (FP8Format.e4m3, BlockLayout.mx(.roundUp)), (.e5m2, .mx(.roundUp)),
        (.e4m3, .tokenwise1x128), (.e5m2, .blockwise128x128),
    ])
    func dequantizedIsCloseInFloat64(element: FP8Format, layout: BlockLayout) throws {
        let values = Self.randomValues(130 * 300, seed: 3)
        let quantized = try QuantizedTensor.quantize(values, shape: [130, 300], element: element, layout: layout)
        let approximations = quantized.dequantized()
        let unitRoundoff = element == .e4m3 ? 0.0625 : 0.125
        var errorSquares = 0.0, normSquares = 0.0
        for (value, approximation) in zip(values, approximations) {
            let error = Double(approximation) - Double(value)
            errorSquares += error * error
            normSquares += Double(value) * Double(value)
        }
        #expect((errorSquares / normSquares).squareRoot() <= unitRoundoff, "\(element) \(layout)")
        #expect((errorSquares / normSquares).squareRoot() > 0, "quantization to 8 bits cannot be exact here")
    }
}
