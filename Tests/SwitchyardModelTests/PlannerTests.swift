import Switchyard
import Testing
@testable import SwitchyardModel

/// The planner picks the obvious answer in constructed cases.
@Suite struct PlannerTests {
    @Test func smallBatchInferenceSpreadsTheWeights() throws {
        // 64 tokens over 64 experts: weight reads dominate, so splitting the experts over 8 GPUs wins.
        let request = PlanRequest(
            hidden: 4096, intermediate: 1536, experts: 64, topK: 4, tokensPerGPU: 0,
            cluster: ClusterTopology(gpusPerNode: 8, nodes: 1), objective: .inferenceLatency(batchTokens: 64),
            precisions: [.bf16], tiles: [.default], chunkOptions: [1])
        let plan = try Planner(hardware: .h100SXM).plan(request)
        #expect(plan.best.expertParallel == 8)
        #expect(plan.best.tokensPerGPU == 8)
        #expect(plan.ranked.allSatisfy { !$0.tokenRounding })
    }

    @Test func slowNetworkKeepsExpertsLocal() throws {
        var part = Hardware.h100SXM
        part.nvlink = Link(bandwidth: 1e9, latency: 1e-3)
        let request = PlanRequest(
            hidden: 1024, intermediate: 512, experts: 16, topK: 2, tokensPerGPU: 8192,
            cluster: ClusterTopology(gpusPerNode: 4, nodes: 1), objective: .training, precisions: [.bf16],
            tiles: [.default], chunkOptions: [1], microbatchesPerStep: 1_000_000)
        let plan = try Planner(hardware: part).plan(request)
        #expect(plan.best.expertParallel == 1)
        #expect(plan.ranked.map(\.expertParallel).sorted() == [1, 1, 2, 2, 4, 4])
    }

    @Test func computeBoundTrainingPrefersFP8() throws {
        let request = PlanRequest(
            hidden: 4096, intermediate: 2048, experts: 8, topK: 2, tokensPerGPU: 16384,
            cluster: ClusterTopology(gpusPerNode: 1, nodes: 1), objective: .training, precisions: [.bf16, .fp8],
            tiles: [.default], chunkOptions: [1])
        let plan = try Planner(hardware: .h100SXM).plan(request)
        #expect(plan.best.precision == .fp8)
        let bf16 = try #require(plan.alternatives.first { $0.decision == "precision" && $0.value == "bf16" })
        #expect(bf16.slowdown > 0.2)
    }

    @Test func tokenRoundingRemovesPaddingTiles() throws {
        // every expert receives 129 rows: 2 M tiles each, 1 after rounding to 128
        let counts = Array(repeating: 129, count: 64)
        let request = PlanRequest(
            hidden: 2048, intermediate: 1024, experts: 64, topK: 8, tokensPerGPU: 129 * 8,
            cluster: ClusterTopology(gpusPerNode: 1, nodes: 1), objective: .training,
            distribution: .measured(counts), precisions: [.bf16], tiles: [.default], chunkOptions: [1])
        let plan = try Planner(hardware: .h100SXM).plan(request)
        #expect(plan.best.tokenRounding)
    }

    @Test func memoryCheckExcludesWhatDoesNotFit() throws {
        // 64 experts of 3·4096·1536 parameters × 16 B × 20 layers ≈ 387 GB on one GPU; EP 8 ≈ 48 GB
        let request = PlanRequest(
            hidden: 4096, intermediate: 1536, experts: 64, topK: 4, tokensPerGPU: 4096,
            cluster: ClusterTopology(gpusPerNode: 8, nodes: 1), objective: .training, layersPerGPU: 20,
            precisions: [.bf16], tiles: [.default], chunkOptions: [1])
        let plan = try Planner(hardware: .h100SXM).plan(request)
        #expect(plan.ranked.allSatisfy { $0.expertParallel == 8 })
        #expect(plan.excluded.contains { $0.hasPrefix("EP 1 ") })
    }

    @Test func expertParallelDegreesFitTheCluster() {
        let request = PlanRequest(
            hidden: 64, intermediate: 64, experts: 48, topK: 2, tokensPerGPU: 128,
            cluster: ClusterTopology(gpusPerNode: 8, nodes: 3), objective: .training)
        // divides 48 and 24, and is a divisor of 8 or a multiple of it
        #expect(request.expertParallelDegrees == [1, 2, 4, 8, 24])
    }

    @Test func badRequestsThrow() {
        let request = PlanRequest(
            hidden: 64, intermediate: 64, experts: 4, topK: 8, tokensPerGPU: 128,
            cluster: ClusterTopology(gpusPerNode: 1, nodes: 1), objective: .training)
        #expect(throws: SwitchyardError.self) { try Planner(hardware: .h100SXM).plan(request) }
    }
}
