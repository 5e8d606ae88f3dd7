import Switchyard
import Testing
@testable import SwitchyardModel

/// Tile quantization (rows padded to the M tile), wave quantization (tiles over SMs), token rounding.
@Suite struct QuantizationTests {
    @Test func tilesPadEachExpertToTheMTile() {
        let tile = TileConfig.default
        // ⌈1/128⌉ + ⌈128/128⌉ + ⌈129/128⌉ + 0 = 4 row tiles, times ⌈256/128⌉ = 2 column tiles
        #expect(tile.tileCount(groupRows: [1, 128, 129, 0], columns: 256) == 8)
        #expect(tile.paddedRows([1, 128, 129, 0]) == 512)
    }

    @Test(arguments: [(132, 1), (133, 2), (264, 2), (265, 3), (1, 1)])
    func wavesOn132SMs(tiles: Int, waves: Int) {
        #expect(TileConfig.waves(tiles: tiles, processors: 132) == waves)
    }

    @Test func persistentSchedulerMakespan() {
        #expect(persistentMakespan(runs: [(133, 1)], workers: 132) == 2)
        #expect(persistentMakespan(runs: [(264, 1)], workers: 132) == 2)
        // one long tile and 131 short ones: all run in parallel
        #expect(persistentMakespan(runs: [(1, 10), (131, 1)], workers: 132) == 10)
        // a full wave then one heavy tile
        #expect(persistentMakespan(runs: [(132, 1), (1, 5)], workers: 132) == 6)
        // uneven start: 2 workers, tiles 3 then 1,1,1 → loads 3 | 1+1+1 = 3
        #expect(persistentMakespan(runs: [(1, 3), (3, 1)], workers: 2) == 3)
    }

    @Test func tokenRoundingToNearestMultiple() {
        let workload = LayerWorkload(
            tokens: 64, hidden: 128, intermediate: 64, experts: 4, topK: 4, expertCounts: [100, 200, 60, 152],
            tokenRounding: true)
        #expect(workload.expertRows == [128, 256, 0, 128])
        var off = workload
        off.tokenRounding = false
        #expect(off.expertRows == [100, 200, 60, 152])
    }

    @Test func uniformCountsSpreadTheRemainder() {
        let workload = LayerWorkload(tokens: 5, hidden: 16, intermediate: 16, experts: 4, topK: 2)
        #expect(workload.routedCounts == [3, 3, 2, 2])
    }

    /// A hand-sized part: 4 SMs, 4 TFLOP/s bf16 ceiling at efficiency 0.5 → 0.5 TFLOP/s per SM.
    /// A 128×128 tile over depth 256 (4 K steps + 1 overhead step) costs 2·128·128·64·5 / 5e11 s.
    @Test func waveQuantizationInPredictedTime() throws {
        var part = Hardware.h100SXM
        part.smCount = 4
        part.ceilings.bf16GEMMFLOPS = 4e12
        part.ceilings.copyBandwidth = 1e18
        let calibration = Calibration(gemmEfficiency: 0.5, tileOverheadKSteps: 1, launchOverhead: 0)
        let model = PerformanceModel(hardware: part, calibration: calibration)
        let tileSeconds = 2.0 * 128 * 128 * 64 * 5 / 5e11
        #expect(abs(model.tileSeconds(depth: 256, precision: .bf16, tile: .default) - tileSeconds) < 1e-15)
        func gemm(rows: Int) -> KernelEstimate {
            let spec = KernelSpec(
                name: "test", phase: .forward, stage: .experts, flops: 0, bytes: 0, launches: 0, transientBytes: 0,
                work: .gemm(groups: [GEMMGroup(rows: rows, depth: 256)], columns: 128, precision: .bf16))
            return model.estimate(spec, tile: .default)
        }
        // 4 tiles: one wave; 5 tiles: two waves; 513 rows pad to 5 tiles as well
        #expect(gemm(rows: 512).waves == 1)
        #expect(abs(gemm(rows: 512).computeSeconds - tileSeconds) < 1e-15)
        #expect(gemm(rows: 640).waves == 2)
        #expect(abs(gemm(rows: 640).computeSeconds - 2 * tileSeconds) < 1e-15)
        #expect(gemm(rows: 513).tiles == 5)
        #expect(abs(gemm(rows: 513).computeSeconds - 2 * tileSeconds) < 1e-15)
    }

    @Test func streamingKernelIsBytesOverBandwidthPlusLaunches() {
        var part = Hardware.h100SXM
        part.ceilings.copyBandwidth = 2e12
        let calibration = Calibration(memoryEfficiency: 0.5, launchOverhead: 1e-6)
        let model = PerformanceModel(hardware: part, calibration: calibration)
        let spec = KernelSpec(
            name: "copy", phase: .forward, stage: .output, flops: 0, bytes: 1e9, launches: 2, transientBytes: 0,
            work: .streaming)
        let estimate = model.estimate(spec, tile: .default)
        #expect(abs(estimate.seconds - (1e9 / 1e12 + 2e-6)) < 1e-12)
        #expect(estimate.bound == .memory)
    }

    @Test func tileParsingAndValidation() throws {
        let tile = try TileConfig(parsing: "128x256x64x3")
        #expect(tile == TileConfig(m: 128, n: 256, k: 64, stages: 3))
        #expect(try TileConfig(parsing: "64x128x64").stages == 4)
        #expect(throws: SwitchyardError.self) { try TileConfig(parsing: "128x128") }
        #expect(throws: SwitchyardError.self) { try TileConfig(m: 100).validate(for: .h100SXM, precision: .bf16) }
        // 8 stages of 256×256×64 bf16 operands need 512 KiB of shared memory
        #expect(throws: SwitchyardError.self) {
            try TileConfig(m: 256, n: 256, k: 64, stages: 8).validate(for: .h100SXM, precision: .bf16)
        }
    }
}
