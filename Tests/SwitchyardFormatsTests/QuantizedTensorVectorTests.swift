import SwitchyardFormats
import Testing

/// MXFP8 (both scale rules, both element formats) and 1×128 / 128×128 float32-scaled quantization, bit for
/// bit against the numpy + ml_dtypes reference; dequantization against the reference codes decoded by
/// ml_dtypes' tables times the reference scales.
@Suite struct QuantizedTensorVectorTests {
    static let tensors: Vectors.Tensors? = try? Vectors.load("tensors", as: Vectors.Tensors.self)

    static func layout(_ name: String) -> BlockLayout? {
        switch name {
        case "mx-ocp": .mx(.ocp)
        case "mx-roundup": .mx(.roundUp)
        case "1x128": .tokenwise1x128
        case "128x128": .blockwise128x128
        default: nil
        }
    }

    static func element(_ name: String) -> FP8Format? {
        switch name {
        case "e4m3fn": .e4m3
        case "e5m2": .e5m2
        default: nil
        }
    }

    @Test func vectorsCoverEveryLayoutAndElement() throws {
        let cases = try #require(Self.tensors).cases
        #expect(Set(cases.map { "\($0.layout) \($0.element)" }).count == 8)
    }

    @Test(arguments: 0..<8)
    func quantizesLikeReference(caseIndex: Int) throws {
        let tensors = try #require(Self.tensors)
        let vector = try #require(tensors.cases.indices.contains(caseIndex) ? tensors.cases[caseIndex] : nil)
        let input = try #require(tensors.inputs[vector.input])
        let layout = try #require(Self.layout(vector.layout))
        let element = try #require(Self.element(vector.element))
        let values = try Vectors.floats(hex: input.values)
        let expectedCodes = try Vectors.bytes(hex: vector.codes)
        let expectedScales = try Vectors.floats(hex: vector.scales)

        let quantized = try QuantizedTensor.quantize(values, shape: input.shape, element: element, layout: layout)
        let label = "\(vector.layout) \(vector.element)"
        #expect(quantized.scales.count == expectedScales.count, "\(label): scale count")
        let scaleMismatches = zip(quantized.scales, expectedScales).filter { $0.bitPattern != $1.bitPattern }
        #expect(scaleMismatches.isEmpty, "\(label): \(scaleMismatches.count) scales differ, first \(scaleMismatches.first.map { "\($0)" } ?? "")")
        #expect(quantized.codes.count == expectedCodes.count, "\(label): code count")
        let codeMismatches = zip(quantized.codes, expectedCodes).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        #expect(codeMismatches.isEmpty, "\(label): codes differ at \(Array(codeMismatches.prefix(5)))")

        // Dequantize: decode with the reference table (ml_dtypes), times the reference scale, in float32.
        let decode = try Vectors.load("decode", as: Vectors.Decode.self)
        let table = (element == .e4m3 ? decode.e4m3fn : decode.e5m2).map { Float(bitPattern: $0) }
        let scaleOfElement = try blockIndices(shape: input.shape, layout: layout)
        let dequantized = quantized.dequantized()
        var wrong = 0
        for index in values.indices where dequantized[index].bitPattern
            != (table[Int(expectedCodes[index])] * expectedScales[scaleOfElement[index]]).bitPattern {
            wrong += 1
        }
        #expect(wrong == 0, "\(label): \(wrong) dequantized values differ")
    }

    /// For each element of `shape`, the index of its block's scale, by plain row-major counting.
    func blockIndices(shape: [Int], layout: BlockLayout) throws -> [Int] {
        let columns = try #require(shape.last)
        let rows = shape.count >= 2 ? shape[shape.count - 2] : 1
        let batch = shape.dropLast(2).reduce(1, *)
        let rowBlocks = (rows + layout.blockRows - 1) / layout.blockRows
        let columnBlocks = (columns + layout.blockColumns - 1) / layout.blockColumns
        var indices: [Int] = []
        for matrix in 0..<batch {
            for row in 0..<rows {
                for column in 0..<columns {
                    let rowBlock = row / layout.blockRows, columnBlock = column / layout.blockColumns
                    indices.append((matrix * rowBlocks + rowBlock) * columnBlocks + columnBlock)
                }
            }
        }
        return indices
    }
}
