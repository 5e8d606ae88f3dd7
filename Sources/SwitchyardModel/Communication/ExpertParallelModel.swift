import Switchyard

/// How a layer is spread over an expert-parallel group.
public struct ExpertParallelConfig: Sendable, Hashable {
    /// The EP group; its GPU count is the EP degree.
    public var topology: ClusterTopology
    public var algorithm: AllToAllAlgorithm
    public var distribution: RoutingDistribution
    /// Extra expert slots per rank filled with copies of hot experts (0: no replication).
    public var replicasPerRank: Int
    /// Pieces the tokens are cut into so that all-to-alls overlap expert compute (1: no overlap).
    public var chunks: Int

    public init(
        topology: ClusterTopology, algorithm: AllToAllAlgorithm = .flat, distribution: RoutingDistribution = .uniform,
        replicasPerRank: Int = 0, chunks: Int = 1
    ) {
        self.topology = topology
        self.algorithm = algorithm
        self.distribution = distribution
        self.replicasPerRank = replicasPerRank
        self.chunks = chunks
    }

    /// One GPU, no communication.
    public static let single = ExpertParallelConfig(topology: ClusterTopology(gpusPerNode: 1, nodes: 1))
}

/// Per-chunk stage times of a chunked dispatch → experts → combine pipeline and its total:
/// total = dispatch + compute + combine + (chunks − 1)·max(compute, dispatch + combine),
/// since dispatch and combine share the links.
public struct PipelineTimes: Sendable, Hashable, Codable {
    public var chunks: Int
    public var dispatchSeconds: Double
    public var computeSeconds: Double
    public var combineSeconds: Double

    public var totalSeconds: Double {
        dispatchSeconds + computeSeconds + combineSeconds
            + Double(chunks - 1) * max(computeSeconds, dispatchSeconds + combineSeconds)
    }
}

/// The prediction for the busiest rank of an expert-parallel layer.
public struct ExpertParallelEstimate: Sendable, Codable {
    /// Kernels of the busiest rank, unchunked.
    public var layer: LayerEstimate
    /// Dispatch and combine all-to-alls of forward and backward, whole (not per chunk).
    public var collectives: [KernelEstimate]
    public var forwardPipeline: PipelineTimes
    public var backwardPipeline: PipelineTimes
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    /// GEMM rows on each rank.
    public var rankRows: [Int]
    public var busiestRank: Int
    /// Expert copies on the busiest-hosting rank (E/P without replication).
    public var expertsPerRank: Int

    /// Busiest rank's rows over the mean.
    public var imbalance: Double {
        let mean = Double(rankRows.reduce(0, +)) / Double(max(rankRows.count, 1))
        return mean > 0 ? Double(rankRows.max() ?? 0) / mean : 1
    }

    public var totalSeconds: Double { forwardSeconds + backwardSeconds }
    public var communicationSeconds: Double { collectives.reduce(0) { $0 + $1.seconds } }
}

/// Composes the kernel model and the communication model for expert parallelism.
///
/// The busiest rank decides the time: its local experts' rows (from the routing distribution and placement) run
/// through ``PerformanceModel``; the routing kernels before dispatch and the output kernels after combine run
/// on the rank's own T tokens.
public struct ExpertParallelModel: Sendable {
    public var performance: PerformanceModel
    public var communication: CommunicationModel

    public init(hardware: Hardware, calibration: Calibration = .default) {
        performance = PerformanceModel(hardware: hardware, calibration: calibration)
        communication = CommunicationModel(hardware: hardware, calibration: calibration)
    }

    /// `workload.tokens` is the tokens per rank; `workload.experts` the layer's total E. The rows per expert come
    /// from `parallel.distribution` (`workload.expertCounts` is replaced; pass measured counts as
    /// ``RoutingDistribution/measured(_:)``).
    public func estimate(_ workload: LayerWorkload, parallel: ExpertParallelConfig) throws -> ExpertParallelEstimate {
        try workload.validate()
        let ranks = parallel.topology.gpus
        guard workload.experts % ranks == 0 else {
            throw SwitchyardError(.invalidConfiguration, "experts (\(workload.experts)) must be a multiple of the EP degree (\(ranks))")
        }
        guard parallel.chunks >= 1, parallel.replicasPerRank >= 0 else {
            throw SwitchyardError(.invalidConfiguration, "chunks must be ≥ 1 and replicas ≥ 0")
        }
        let loads = try parallel.distribution.loads(experts: workload.experts)
        let placement = parallel.replicasPerRank > 0 && ranks > 1
            ? ExpertPlacement.replicated(loads: loads, ranks: ranks, replicasPerRank: parallel.replicasPerRank)
            : ExpertPlacement.contiguous(experts: workload.experts, ranks: ranks)
        let assignments = Double(ranks * workload.tokens * workload.topK)
        let counts = (0..<ranks).map { rank in
            var counts = Array(repeating: 0, count: workload.experts)
            for copy in placement.hosted(on: rank) {
                counts[copy.expert] = Int((assignments * loads[copy.expert] * copy.share).rounded())
            }
            return counts
        }
        let rankRows = counts.map { $0.reduce(0, +) }
        let busiest = rankRows.indices.max { rankRows[$0] < rankRows[$1] } ?? 0
        var local = workload
        local.expertCounts = counts[busiest]
        let layer = performance.estimate(local)

        let transfers = ranks > 1 ? self.collectives(workload, loads: loads, placement: placement, parallel: parallel) : []
        let collectives = transfers.map(\.estimate)
        let chunkLayer = parallel.chunks > 1 ? performance.estimate(chunked(local, parallel.chunks)) : layer
        func pipeline(_ phase: Phase) -> PipelineTimes {
            let comm = transfers.filter { $0.estimate.phase == phase }.map {
                communication.seconds($0.traffic.scaled(by: 1 / Double(parallel.chunks)))
            }
            return PipelineTimes(
                chunks: parallel.chunks, dispatchSeconds: comm.first ?? 0,
                computeSeconds: seconds(chunkLayer, phase, .experts), combineSeconds: comm.last ?? 0)
        }
        let forward = pipeline(.forward), backward = pipeline(.backward)
        return ExpertParallelEstimate(
            layer: layer, collectives: collectives, forwardPipeline: forward, backwardPipeline: backward,
            forwardSeconds: seconds(layer, .forward, .routing) + forward.totalSeconds + seconds(layer, .forward, .output),
            backwardSeconds: seconds(layer, .backward, .routing) + backward.totalSeconds
                + seconds(layer, .backward, .output),
            rankRows: rankRows, busiestRank: busiest, expertsPerRank: placement.maxCopiesPerRank)
    }

    private func seconds(_ layer: LayerEstimate, _ phase: Phase, _ stage: Stage) -> Double {
        layer.kernels.filter { $0.phase == phase && $0.stage == stage }.reduce(0) { $0 + $1.seconds }
    }

    /// One chunk of the rank's work: each expert's rows split into `chunks` (rounded up).
    private func chunked(_ workload: LayerWorkload, _ chunks: Int) -> LayerWorkload {
        var piece = workload
        piece.tokens = ceilDiv(workload.tokens, chunks)
        piece.expertCounts = workload.expertCounts.map { $0.map { ceilDiv($0, chunks) } }
        return piece
    }

    private func collectives(
        _ workload: LayerWorkload, loads: [Double], placement: ExpertPlacement, parallel: ExpertParallelConfig
    ) -> [(estimate: KernelEstimate, traffic: LinkTraffic)] {
        let topology = parallel.topology
        let rankHits = CommunicationModel.rankHitProbabilities(loads: loads, topK: workload.topK, placement: placement)
        let nodeHits = CommunicationModel.nodeHitProbabilities(
            loads: loads, topK: workload.topK, placement: placement, topology: topology)
        let d = Double(workload.hidden)
        let steps: [(String, Phase, Double)] = [
            ("dispatch all-to-all", .forward, d * workload.precision.activationBytes),
            ("combine all-to-all", .forward, d * 2),
            ("dO dispatch all-to-all", .backward, d * 2),
            ("dX combine all-to-all", .backward, d * 2),
        ]
        return steps.map { name, phase, bytesPerCopy in
            let traffic = CommunicationModel.traffic(
                tokens: workload.tokens, bytesPerCopy: bytesPerCopy, rankHits: rankHits, nodeHits: nodeHits,
                topology: topology, algorithm: parallel.algorithm)
            let seconds = communication.seconds(traffic)
            let estimate = KernelEstimate(
                name: name, phase: phase, stage: .experts, flops: 0,
                bytes: traffic.nvlinkBytes + traffic.infinibandBytes, seconds: seconds, bound: .network,
                percentOfPeak: communication.percentOfPeak(traffic, seconds: seconds))
            return (estimate, traffic)
        }
    }
}
