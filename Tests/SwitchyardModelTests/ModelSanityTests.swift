import Switchyard
import Testing
@testable import SwitchyardModel

/// Every named shape and part gives a consistent breakdown: counted FLOPs match MOE.md, no kernel beats its
/// vendor peak, and structural effects go the right way.
@Suite struct ModelSanityTests {
    @Test(arguments: NamedShape.all)
    func namedShapesOnH100(shape: NamedShape) {
        let estimate = PerformanceModel(hardware: .h100SXM).estimate(LayerWorkload(shape: shape))
        #expect(estimate.forwardFLOPs == shape.forwardFLOPs)
        #expect(estimate.backwardFLOPs == shape.backwardFLOPs)
        #expect(estimate.kernels.allSatisfy { $0.seconds > 0 && $0.percentOfPeak <= 100 })
        // below the dense ceiling, above a quarter of it
        #expect(estimate.forwardTFLOPS < 750 && estimate.forwardTFLOPS > 750 / 4)
        #expect(estimate.peakActivationBytes > estimate.cachedActivationBytes)
    }

    @Test(arguments: Hardware.all, Precision.allCases)
    func everyPartAndPrecision(part: Hardware, precision: Precision) {
        let workload = LayerWorkload(shape: NamedShape.named("Qwen3-235B-A22B")!, precision: precision)
        let estimate = PerformanceModel(hardware: part).estimate(workload)
        #expect(estimate.totalTFLOPS * 1e12 < part.peakFLOPS(precision))
        #expect(estimate.totalSeconds > 0)
    }

    @Test func fewerTokensPerExpertLowerEfficiency() {
        // iso-FLOPs: 7B-n256 has 1536 rows per expert and short K = 256 in down-proj; 7B-n1024 is coarser
        let model = PerformanceModel(hardware: .h100SXM)
        let fine = model.estimate(LayerWorkload(shape: NamedShape.named("7B-n256")!))
        let coarse = model.estimate(LayerWorkload(shape: NamedShape.named("7B-n1024")!))
        #expect(fine.forwardFLOPs == coarse.forwardFLOPs)
        #expect(fine.forwardTFLOPS < coarse.forwardTFLOPS)
    }

    @Test func mxfp8IsEmulatedOnHopperOnly() {
        let workload = LayerWorkload(shape: NamedShape.named("120B-n2048")!, precision: .mxfp8)
        var fp8 = workload
        fp8.precision = .fp8
        let hopper = PerformanceModel(hardware: .h100SXM)
        let blackwell = PerformanceModel(hardware: .b200)
        #expect(hopper.estimate(workload).totalSeconds > 1.2 * hopper.estimate(fp8).totalSeconds)
        // on B200 the scale bytes differ slightly (1/32 vs 4/128 + weight blocks), the rate does not
        let ratio = blackwell.estimate(workload).totalSeconds / blackwell.estimate(fp8).totalSeconds
        #expect(abs(ratio - 1) < 0.02)
    }

    @Test func sweepIsIsoFLOP() {
        let sweep = SparsitySweep(
            tokens: 4096, hidden: 1024, activeIntermediate: 1024, granularities: [1, 2, 4, 3],
            expertsPerChoice: [4, 16])
        let points = sweep.run(PerformanceModel(hardware: .h100SXM))
        // d/n = 3 gives no whole n, so 3 granularities × 2 ratios
        #expect(points.count == 6)
        #expect(Set(sweep.workloads.map(\.forwardFLOPs)).count == 1)
        #expect(points.map(\.topK) == [1, 1, 2, 2, 4, 4])
        #expect(points.map(\.experts) == [4, 16, 8, 32, 16, 64])
        let csv = SweepReport.csv(points)
        #expect(csv.split(separator: "\n").count == 7)
        let svg = SweepReport.svg(points, title: "a < b")
        #expect(svg.hasPrefix("<svg") && svg.contains("a &lt; b") && svg.contains("<polyline"))
        #expect(SweepReport.niceCeiling(570) == 600)
        #expect(SweepReport.niceCeiling(9.27) == 10)
        #expect(SweepReport.niceCeiling(0.31) == 0.4)
    }

    @Test func tableAndUnits() {
        var table = TextTable(["name", "value"], rightAligned: [1])
        table.append(["a", "1.5"])
        table.append(["long name", "22.25"])
        #expect(table.render() == "name       value\n---------  -----\na            1.5\nlong name  22.25")
        #expect(Units.fixed(2.375, 2) == "2.38")
        #expect(Units.fixed(-1.25, 1) == "-1.3")
        #expect(Units.fixed(-0.01, 1) == "0.0")
        #expect(Units.fixed(0.05, 2) == "0.05")
        #expect(Units.fixed(3.0, 0) == "3")
        #expect(Units.fixed(12.5, 3) == "12.500")
        #expect(Units.seconds(2.5e-4) == "250.0 µs")
        #expect(Units.seconds(0.0123) == "12.300 ms")
    }
}
