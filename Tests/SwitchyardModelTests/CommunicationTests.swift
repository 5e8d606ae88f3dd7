import Switchyard
import Testing
@testable import SwitchyardModel

/// Dispatch and combine volumes, uniform and skewed, flat and hierarchical, against hand counts.
@Suite struct CommunicationTests {
    @Test func uniformOneExpertPerRank() {
        // E = 8 on 8 ranks, K = 2: each expert (and rank) is hit with probability K/E = 0.25.
        let placement = ExpertPlacement.contiguous(experts: 8, ranks: 8)
        let loads = Array(repeating: 1.0 / 8, count: 8)
        let hits = CommunicationModel.rankHitProbabilities(loads: loads, topK: 2, placement: placement)
        #expect(hits.allSatisfy { abs($0 - 0.25) < 1e-12 })
        let topology = ClusterTopology(gpusPerNode: 8, nodes: 1)
        let traffic = CommunicationModel.traffic(
            tokens: 1000, bytesPerCopy: 100, rankHits: hits, nodeHits: [1], topology: topology, algorithm: .flat)
        // sends 1000·100·7·0.25 and receives 7·1000·100·0.25
        #expect(abs(traffic.nvlinkBytes - 175_000) < 1e-6)
        #expect(traffic.infinibandBytes == 0)
    }

    @Test func distinctRanksAreDeduplicated() {
        // E = 16 on 2 ranks, K = 8, uniform: π = 0.5, P(hit rank) = 1 − 0.5^8.
        let placement = ExpertPlacement.contiguous(experts: 16, ranks: 2)
        let hits = CommunicationModel.rankHitProbabilities(
            loads: Array(repeating: 1.0 / 16, count: 16), topK: 8, placement: placement)
        #expect(abs(hits[0] - (1 - 0.00390625)) < 1e-12)
    }

    @Test func skewedRoutingLoadsTheHotRank() throws {
        // Expert 0 takes 40% of assignments, the others 10% each; K = 2 → π0 = 0.8, others 0.2.
        let loads = [0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.0]
        let placement = ExpertPlacement.contiguous(experts: 8, ranks: 8)
        let hits = CommunicationModel.rankHitProbabilities(loads: loads, topK: 2, placement: placement)
        #expect(abs(hits[0] - 0.8) < 1e-12 && abs(hits[1] - 0.2) < 1e-12 && hits[7] == 0)
        let traffic = CommunicationModel.traffic(
            tokens: 1000, bytesPerCopy: 100, rankHits: hits, nodeHits: [1],
            topology: ClusterTopology(gpusPerNode: 8, nodes: 1), algorithm: .flat)
        // rank 0 receives 7 · 1000 · 100 · 0.8; that beats every rank's sends (at most 1000·100·1.8)
        #expect(abs(traffic.nvlinkBytes - 560_000) < 1e-6)
        let uniform = CommunicationModel.traffic(
            tokens: 1000, bytesPerCopy: 100, rankHits: Array(repeating: 0.25, count: 8), nodeHits: [1],
            topology: ClusterTopology(gpusPerNode: 8, nodes: 1), algorithm: .flat)
        #expect(traffic.nvlinkBytes > 3 * uniform.nvlinkBytes)
    }

    @Test func hierarchicalSendsOneCopyPerNode() {
        // 2 nodes × 2 GPUs, E = 4 (one per rank), K = 2 uniform: h = 0.5 per rank, H = 1 − 0.5² = 0.75 per node.
        let topology = ClusterTopology(gpusPerNode: 2, nodes: 2)
        let placement = ExpertPlacement.contiguous(experts: 4, ranks: 4)
        let loads = Array(repeating: 0.25, count: 4)
        let hits = CommunicationModel.rankHitProbabilities(loads: loads, topK: 2, placement: placement)
        let nodeHits = CommunicationModel.nodeHitProbabilities(loads: loads, topK: 2, placement: placement, topology: topology)
        #expect(nodeHits.allSatisfy { abs($0 - 0.75) < 1e-12 })
        let flat = CommunicationModel.traffic(
            tokens: 1000, bytesPerCopy: 1, rankHits: hits, nodeHits: nodeHits, topology: topology, algorithm: .flat)
        let hierarchical = CommunicationModel.traffic(
            tokens: 1000, bytesPerCopy: 1, rankHits: hits, nodeHits: nodeHits, topology: topology,
            algorithm: .hierarchical)
        // flat: InfiniBand 1000·(0.5 + 0.5) = 1000 each way; NVLink 1000·0.5
        #expect(abs(flat.infinibandBytes - 1000) < 1e-9)
        #expect(abs(flat.nvlinkBytes - 500) < 1e-9)
        // hierarchical: InfiniBand 1000·0.75; NVLink forwards for both nodes: 2·1000·0.5
        #expect(abs(hierarchical.infinibandBytes - 750) < 1e-9)
        #expect(abs(hierarchical.nvlinkBytes - 1000) < 1e-9)
    }

    @Test func alphaBetaTimes() {
        var part = Hardware.h100SXM
        part.nvlink = Link(bandwidth: 100e9, latency: 5e-6)
        part.infiniband = Link(bandwidth: 10e9, latency: 10e-6)
        let model = CommunicationModel(
            hardware: part, calibration: Calibration(nvlinkEfficiency: 0.5, infinibandEfficiency: 1))
        // NVLink: 5 µs + 1e8 / 5e10 = 2.005 ms; InfiniBand: 10 µs + 1e7 / 1e10 = 1.01 ms
        let seconds = model.seconds(LinkTraffic(nvlinkBytes: 1e8, infinibandBytes: 1e7))
        #expect(abs(seconds - 2.005e-3) < 1e-12)
        // ring all-reduce of 1 GB over 4 GPUs across nodes: 10 µs + 2·3/4·1e9/1e10
        #expect(abs(model.allReduceSeconds(bytes: 1e9, participants: 4, crossesNodes: true) - 0.15001) < 1e-12)
        #expect(model.allReduceSeconds(bytes: 1e9, participants: 1, crossesNodes: true) == 0)
    }

    @Test func replicationBalancesAHotExpert() {
        let loads = [0.7, 0.1, 0.1, 0.1]
        let contiguous = ExpertPlacement.contiguous(experts: 4, ranks: 2).rankLoads(loads)
        #expect(abs(contiguous[0] - 0.8) < 1e-12 && abs(contiguous[1] - 0.2) < 1e-12)
        // expert 0 gets a copy on rank 1 (0.45 | 0.55), then expert 2 a copy on rank 0 (0.5 | 0.5)
        let placement = ExpertPlacement.replicated(loads: loads, ranks: 2, replicasPerRank: 1)
        let balanced = placement.rankLoads(loads)
        #expect(abs(balanced[0] - 0.5) < 1e-12 && abs(balanced[1] - 0.5) < 1e-12)
        #expect(placement.copies[0].count == 2 && placement.copies[2].count == 2)
    }

    @Test func routingDistributions() throws {
        let zipf = try RoutingDistribution(parsing: "zipf:1").loads(experts: 64)
        #expect(abs(zipf.reduce(0, +) - 1) < 1e-12)
        // 1/1 over 1/64
        #expect(abs(zipf.max()! / zipf.min()! - 64) < 1e-9)
        #expect(try RoutingDistribution.zipf(exponent: 0).loads(experts: 8) == RoutingDistribution.uniform.loads(experts: 8))
        #expect(try RoutingDistribution.parseCounts("[3, 1,\n0 4]") == [3, 1, 0, 4])
        #expect(try RoutingDistribution.measured([3, 1, 0, 4]).loads(experts: 4) == [0.375, 0.125, 0, 0.5])
        #expect(throws: SwitchyardError.self) { try RoutingDistribution(parsing: "zipf:-1") }
        #expect(throws: SwitchyardError.self) { try RoutingDistribution.measured([1, 2]).loads(experts: 4) }
    }

    @Test func pipelineOverlapFormula() {
        // 1 + 3 + 1 for the first chunk, then 3 more chunks each bound by max(compute 3, comm 2)
        let times = PipelineTimes(chunks: 4, dispatchSeconds: 1, computeSeconds: 3, combineSeconds: 1)
        #expect(times.totalSeconds == 14)
        #expect(PipelineTimes(chunks: 1, dispatchSeconds: 1, computeSeconds: 3, combineSeconds: 1).totalSeconds == 5)
    }

    @Test func singleRankMatchesTheLayerModel() throws {
        let workload = LayerWorkload(shape: NamedShape.named("7B-n512")!)
        let layer = PerformanceModel(hardware: .h100SXM).estimate(workload)
        let parallel = try ExpertParallelModel(hardware: .h100SXM).estimate(workload, parallel: .single)
        #expect(parallel.collectives.isEmpty)
        #expect(abs(parallel.forwardSeconds - layer.forwardSeconds) < 1e-12)
        #expect(abs(parallel.backwardSeconds - layer.backwardSeconds) < 1e-12)
    }

    @Test func expertParallelSplitsRowsAndAddsCollectives() throws {
        let workload = LayerWorkload(tokens: 4096, hidden: 2048, intermediate: 768, experts: 128, topK: 8)
        let config = ExpertParallelConfig(topology: ClusterTopology(gpusPerNode: 8, nodes: 1))
        let estimate = try ExpertParallelModel(hardware: .h100SXM).estimate(workload, parallel: config)
        // uniform: every rank gets T·K rows (each of 16 local experts 8·4096·8/128 = 2048)
        #expect(estimate.rankRows == Array(repeating: 4096 * 8, count: 8))
        #expect(estimate.collectives.count == 4)
        #expect(estimate.imbalance == 1)
        let skewed = try ExpertParallelModel(hardware: .h100SXM).estimate(
            workload, parallel: ExpertParallelConfig(topology: config.topology, distribution: .zipf(exponent: 1.2)))
        #expect(skewed.imbalance > 1.2)
        #expect(skewed.forwardSeconds > estimate.forwardSeconds)
        #expect(throws: SwitchyardError.self) {
            try ExpertParallelModel(hardware: .h100SXM).estimate(
                workload, parallel: ExpertParallelConfig(topology: ClusterTopology(gpusPerNode: 3, nodes: 1)))
        }
    }
}
