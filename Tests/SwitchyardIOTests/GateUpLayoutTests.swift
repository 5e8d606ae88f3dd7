import Switchyard
import SwitchyardIO
import Testing

struct GateUpLayoutTests {
    @Test func handWorkedRow() throws {
        let interleaved = try Tensor<Float>(shape: [1, 2, 6], scalars: [1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60])
        let concatenated = try GateUpLayout.interleaved.convert(interleaved, to: .concatenated)
        #expect(concatenated.shape == [1, 2, 6])
        #expect(concatenated.scalars == [1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60])
        #expect(try GateUpLayout.concatenated.convert(concatenated, to: .interleaved) == interleaved)
    }

    /// [E, d, 2n]: column 2j of the interleaved weight is gate column j, column 2j+1 is up column j.
    @Test func importThenExportRoundTrips() throws {
        var g = SeededGenerator(seed: 9)
        let (experts, d, n) = (4, 8, 4)
        let fused = randomTensor([experts, d, 2 * n], &g)
        let w1 = try GateUpLayout.interleaved.convert(fused, to: .concatenated)
        var mismatches = 0
        for e in 0..<experts {
            for i in 0..<d {
                let row = (e * d + i) * 2 * n
                for j in 0..<n {
                    if w1.scalars[row + j] != fused.scalars[row + 2 * j] { mismatches += 1 }
                    if w1.scalars[row + n + j] != fused.scalars[row + 2 * j + 1] { mismatches += 1 }
                }
            }
        }
        #expect(mismatches == 0)
        #expect(try GateUpLayout.concatenated.convert(w1, to: .interleaved) == fused)
        #expect(try GateUpLayout.concatenated.convert(w1, to: .concatenated) == w1)
    }

    @Test func oddWidthIsRejected() throws {
        let odd = try Tensor<Float>(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let error = try #require(throws: SwitchyardError.self) { try GateUpLayout.interleaved.convert(odd, to: .concatenated) }
        #expect(error.kind == .shapeMismatch)
    }
}
