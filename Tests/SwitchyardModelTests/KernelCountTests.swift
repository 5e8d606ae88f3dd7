import Switchyard
import Testing
@testable import SwitchyardModel

/// FLOP and byte counts of the kernel plan against hand-computed values for a small shape:
/// T = 256, d = 128, n = 64, E = 4, K = 2, SwiGLU, bf16 → R = 512 rows, 128 per expert, u = 128.
@Suite struct KernelCountTests {
    let workload = LayerWorkload(tokens: 256, hidden: 128, intermediate: 64, experts: 4, topK: 2)

    func kernel(_ name: String, _ list: [KernelSpec]) throws -> KernelSpec {
        try #require(list.first { $0.name == name }, "no kernel named \(name)")
    }

    @Test func forwardGEMMCounts() throws {
        let list = KernelPlan.kernels(for: workload, smCount: 132)
        let up = try kernel("up-proj + act", list)
        #expect(up.flops == 2 * 512 * 128 * 128)
        // X rows gathered 512·128·2 + W1 4·128·128·2 + H 512·128·2 + A 512·64·2
        #expect(up.bytes == 131_072 + 131_072 + 131_072 + 65_536)
        let down = try kernel("down-proj", list)
        #expect(down.flops == 2 * 512 * 64 * 128)
        // A 512·64·2 + W2 4·64·128·2 + Y 512·128·2
        #expect(down.bytes == 65_536 + 65_536 + 131_072)
        let combine = try kernel("combine", list)
        // Y 131072 + scores and positions 512·8 + O 256·128·2
        #expect(combine.bytes == 131_072 + 4_096 + 65_536)
        #expect(up.flops + down.flops == 6 * 256 * 2 * 64 * 128)
        #expect(workload.forwardFLOPs == 6 * 256 * 2 * 64 * 128)
    }

    @Test("bf16 weight gradients: dW1 and dW2 move half their output's bytes, the same FLOPs")
    func bf16WeightGradientBytes() throws {
        var bf16 = workload
        bf16.weightGradientBytes = 2
        let fp32List = KernelPlan.kernels(for: workload, smCount: 132)
        let bf16List = KernelPlan.kernels(for: bf16, smCount: 132)
        // dW2 [E, n, d] = 4·64·128 elements, dW1 [E, d, 2n] = 4·128·128, each 2 bytes fewer
        for (name, elements) in [("dW2 = A′ᵀ·dO", 4.0 * 64 * 128), ("dW1 = Xᵀ·dH", 4.0 * 128 * 128)] {
            let a = try kernel(name, fp32List), b = try kernel(name, bf16List)
            #expect(a.bytes - b.bytes == 2 * elements, "\(name)")
            #expect(a.flops == b.flops)
        }
        // Everything else is as before.
        for (a, b) in zip(fp32List, bf16List) where !a.name.hasPrefix("dW1") && !a.name.hasPrefix("dW2") {
            #expect(a.bytes == b.bytes, "\(a.name)")
        }
    }

    @Test func backwardExpertFLOPsAreTwiceForward() throws {
        let list = KernelPlan.kernels(for: workload, smCount: 132)
        let names = ["dH = dO·W2ᵀ + act'", "dW2 = A′ᵀ·dO", "dW1 = Xᵀ·dH", "dX rows = dH·W1ᵀ"]
        let flops = try names.map { try kernel($0, list).flops }
        // dA′ 2, dW2 2, dW1 4, dX 4 in units of T·K·n·d
        let unit = 256.0 * 2 * 64 * 128
        #expect(flops == [2 * unit, 2 * unit, 4 * unit, 4 * unit])
        #expect(flops.reduce(0, +) == workload.backwardFLOPs)
    }

    @Test func fp8ShrinksOperandBytesAndAddsQuantization() throws {
        var fp8 = workload
        fp8.precision = .fp8
        let list = KernelPlan.kernels(for: fp8, smCount: 132)
        let up = try kernel("up-proj + act", list)
        let s = 1 + 4.0 / 128, w = 1 + 4.0 / (128 * 128)
        // gathered X in FP8, W1 in FP8, H in bf16, A written in FP8 for the down-projection
        #expect(up.bytes == 512 * 128 * s + 4 * 128 * 128 * w + 512 * 128 * 2 + 512 * 64 * s)
        let quantize = try kernel("quantize X", list)
        #expect(quantize.bytes == 256 * 128 * 2 + 256 * 128 * s)
        #expect(list.contains { $0.name == "quantize dO" })
        #expect(!KernelPlan.kernels(for: workload, smCount: 132).contains { $0.name.hasPrefix("quantize") })
    }

    @Test func cachedActivationsAreHAndRoutingMetadata() {
        // H 512·128·2 + Z 256·4·4 + idx, scores, inverse 512·12 + gather index 512·4 + counts, offsets 4·8
        let expected = 131_072.0 + 4_096 + 6_144 + 2_048 + 32
        #expect(KernelPlan.cachedBytes(workload) == expected)
        let estimate = PerformanceModel(hardware: .h100SXM).estimate(workload)
        #expect(estimate.cachedActivationBytes == expected)
        #expect(estimate.peakActivationBytes > expected)
    }

    @Test func yAndTheDXRowsCountOneColumnChunk() throws {
        // 30B-n256: Y = T·K·d bf16 = 32768·16·4096·2 = 4 GiB, four column chunks of 1024 (≤ 1 GiB of Y; ColumnChunks).
        let big = LayerWorkload(shape: try #require(NamedShape.named("30B-n256")))
        let specs = KernelPlan.kernels(for: big, smCount: 132)
        let y = 32768.0 * 16 * 4096 * 2, a = 32768.0 * 16 * 256 * 2, o = 32768.0 * 4096 * 2
        let yChunk = 32768.0 * 16 * 1024 * 2
        let down = try #require(specs.first { $0.name == "down-proj" })
        #expect(down.transientBytes == a + yChunk)
        #expect(down.launches == 4)
        // The bytes moved are the whole pass's: all of Y written, A read once per chunk, W2 once.
        #expect(down.bytes == 4 * a + 256 * 256 * 4096 * 2 + y)
        let combine = try #require(specs.first { $0.name == "combine" })
        #expect(combine.transientBytes == yChunk + o)
        #expect(combine.launches == 4)
        let dXRows = try #require(specs.first { $0.name == "dX rows = dH·W1ᵀ" })
        #expect(dXRows.launches == 4)
        // The small shape of this suite is one chunk: its whole Y, one launch.
        let small = try #require(KernelPlan.kernels(for: workload, smCount: 132).first { $0.name == "down-proj" })
        #expect(small.transientBytes == 512.0 * 64 * 2 + 512.0 * 128 * 2)
        #expect(small.launches == 1)
    }

    @Test func ungatedActivationHasNColumns() throws {
        var relu = workload
        relu.gated = false
        #expect(relu.upColumns == 64)
        #expect(relu.forwardFLOPs == 4 * 256 * 2 * 64 * 128)
        let up = try kernel("up-proj + act", KernelPlan.kernels(for: relu, smCount: 132))
        #expect(up.flops == 2 * 512 * 128 * 64)
    }
}
