import Switchyard

/// One configuration the planner tried, with its predicted times.
public struct PlanCandidate: Sendable, Hashable, Codable {
    public var expertParallel: Int
    public var nodesPerGroup: Int
    public var precision: Precision
    public var tokenRounding: Bool
    public var tile: TileConfig
    public var algorithm: AllToAllAlgorithm
    public var chunks: Int
    public var replicasPerRank: Int
    /// Tokens each GPU feeds into the layer.
    public var tokensPerGPU: Int
    public var forwardSeconds: Double
    public var backwardSeconds: Double
    /// All-to-all time before any overlap.
    public var communicationSeconds: Double
    /// This layer's share of the expert-gradient all-reduce over data-parallel replicas (training).
    public var gradientSyncSeconds: Double
    /// What the objective minimizes: forward + backward + gradient sync (training) or forward (inference).
    public var seconds: Double
    /// Expert TFLOP/s per GPU over `seconds`.
    public var tflopsPerGPU: Double
    /// Busiest rank's rows over the mean.
    public var imbalance: Double
    /// Expert state and activations per GPU over all its layers; nil without a layer count.
    public var memoryBytesPerGPU: Double?
}

/// The planner's answer: feasible candidates best first, and the ones excluded with the reason.
public struct Plan: Sendable, Codable {
    public var ranked: [PlanCandidate]
    public var excluded: [String]

    public var best: PlanCandidate { ranked[0] }

    /// One decision's alternative: the best candidate that takes `value` for `decision`, and how much slower.
    public struct Alternative: Sendable, Codable {
        public var decision: String
        public var value: String
        public var candidate: PlanCandidate
        /// candidate.seconds / best.seconds − 1.
        public var slowdown: Double
    }

    /// For each decision (EP degree, precision, token rounding, tile, chunks, all-to-all, replicas) and each value
    /// tried, the best candidate with that value: why the recommendation wins, one decision at a time.
    public var alternatives: [Alternative] {
        // nil: the decision does not apply to that candidate (no chunks or all-to-all without EP).
        let decisions: [(String, (PlanCandidate) -> String?)] = [
            ("EP degree", { "\($0.expertParallel)" }), ("precision", { $0.precision.rawValue }),
            ("token rounding", { $0.tokenRounding ? "on" : "off" }), ("tile", { "\($0.tile)" }),
            ("chunks", { $0.expertParallel > 1 ? "\($0.chunks)" : nil }),
            ("all-to-all", { $0.nodesPerGroup > 1 ? $0.algorithm.rawValue : nil }),
            ("replicas/rank", { $0.expertParallel > 1 ? "\($0.replicasPerRank)" : nil }),
        ]
        var result: [Alternative] = []
        for (decision, value) in decisions {
            var seen: [String] = []
            for candidate in ranked {
                guard let label = value(candidate), !seen.contains(label) else { continue }
                seen.append(label)
                result.append(Alternative(
                    decision: decision, value: label, candidate: candidate,
                    slowdown: candidate.seconds / best.seconds - 1))
            }
            if seen.count < 2 { result.removeAll { $0.decision == decision } }
        }
        return result
    }
}

/// Searches EP degree, precision, token rounding, tile, chunking, all-to-all algorithm and replication for the
/// configuration that minimizes the objective on the busiest rank.
public struct Planner: Sendable {
    public var model: ExpertParallelModel
    /// Fraction of HBM the experts' state and activations may take; the rest is for attention, dense layers
    /// and workspace.
    public var memoryBudgetFraction: Double = 0.8

    public init(hardware: Hardware, calibration: Calibration = .default) {
        model = ExpertParallelModel(hardware: hardware, calibration: calibration)
    }

    public func plan(_ request: PlanRequest) throws -> Plan {
        try request.validate()
        var ranked: [PlanCandidate] = []
        var excluded: [String] = []
        let hardware = model.performance.hardware
        let degrees = request.expertParallelDegrees
        guard !degrees.isEmpty else {
            throw SwitchyardError(.invalidConfiguration, "no EP degree divides both E (\(request.experts)) and the cluster")
        }
        for ep in degrees {
            let nodes = max(1, ep / request.cluster.gpusPerNode)
            let topology = ClusterTopology(gpusPerNode: ep / nodes, nodes: nodes)
            let tokens = tokensPerGPU(request, ep: ep)
            for precision in request.precisions {
                for tile in request.tiles {
                    if let error = tileError(tile, hardware: hardware, precision: precision) {
                        excluded.append("tile \(tile) with \(precision.rawValue): \(error)")
                        continue
                    }
                    for rounding in roundingOptions(request) {
                        for parallel in parallelOptions(request, topology: topology) {
                            let workload = LayerWorkload(
                                tokens: tokens, hidden: request.hidden, intermediate: request.intermediate,
                                experts: request.experts, topK: request.topK, gated: request.gated,
                                precision: precision, tokenRounding: rounding, tile: tile, tileRule: .uniform)
                            let candidate = try evaluate(workload, parallel: parallel, request: request)
                            if let memory = candidate.memoryBytesPerGPU, memory > memoryBudgetFraction * hardware.memoryBytes {
                                excluded.append(
                                    "EP \(ep) \(precision.rawValue) replicas \(parallel.replicasPerRank): "
                                        + "\(Units.gibibytes(memory)) per GPU exceeds \(Units.fixed(memoryBudgetFraction * 100, 0))% of "
                                        + "\(Units.gibibytes(hardware.memoryBytes))")
                                continue
                            }
                            ranked.append(candidate)
                        }
                    }
                }
            }
        }
        guard !ranked.isEmpty else {
            throw SwitchyardError(
                .invalidConfiguration, "no configuration fits: \(excluded.prefix(3).joined(separator: "; "))")
        }
        ranked.sort { $0.seconds < $1.seconds }
        return Plan(ranked: ranked, excluded: Array(Set(excluded)).sorted())
    }

    private func tokensPerGPU(_ request: PlanRequest, ep: Int) -> Int {
        switch request.objective {
        case .training: request.tokensPerGPU
        case .inferenceLatency(let batch): ceilDiv(batch, ep)
        }
    }

    private func tileError(_ tile: TileConfig, hardware: Hardware, precision: Precision) -> String? {
        do {
            try tile.validate(for: hardware, precision: precision)
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Token rounding changes which tokens an expert sees: a training-time choice only.
    private func roundingOptions(_ request: PlanRequest) -> [Bool] {
        request.objective == .training ? [false, true] : [false]
    }

    private func parallelOptions(_ request: PlanRequest, topology: ClusterTopology) -> [ExpertParallelConfig] {
        guard topology.gpus > 1 else {
            return [ExpertParallelConfig(topology: topology, distribution: request.distribution)]
        }
        let algorithms: [AllToAllAlgorithm] = topology.nodes > 1 ? [.flat, .hierarchical] : [.flat]
        let replicas = request.distribution == .uniform ? [0] : [0, 1]
        return algorithms.flatMap { algorithm in
            replicas.flatMap { replicasPerRank in
                request.chunkOptions.map { chunks in
                    ExpertParallelConfig(
                        topology: topology, algorithm: algorithm, distribution: request.distribution,
                        replicasPerRank: replicasPerRank, chunks: chunks)
                }
            }
        }
    }

    private func evaluate(_ workload: LayerWorkload, parallel: ExpertParallelConfig, request: PlanRequest) throws -> PlanCandidate {
        let estimate = try model.estimate(workload, parallel: parallel)
        let training = request.objective == .training
        let sync = training ? gradientSyncSeconds(workload, estimate: estimate, parallel: parallel, request: request) : 0
        let seconds = training ? estimate.totalSeconds + sync : estimate.forwardSeconds
        let flops = training ? workload.forwardFLOPs + workload.backwardFLOPs : workload.forwardFLOPs
        return PlanCandidate(
            expertParallel: parallel.topology.gpus, nodesPerGroup: parallel.topology.nodes,
            precision: workload.precision, tokenRounding: workload.tokenRounding, tile: workload.tile,
            algorithm: parallel.algorithm, chunks: parallel.chunks, replicasPerRank: parallel.replicasPerRank,
            tokensPerGPU: workload.tokens, forwardSeconds: estimate.forwardSeconds,
            backwardSeconds: estimate.backwardSeconds,
            communicationSeconds: estimate.collectives.filter { training || $0.phase == .forward }.reduce(0) { $0 + $1.seconds },
            gradientSyncSeconds: sync,
            seconds: seconds, tflopsPerGPU: flops / seconds / 1e12, imbalance: estimate.imbalance,
            memoryBytesPerGPU: request.layersPerGPU.map {
                memoryPerGPU(workload, estimate: estimate, layers: $0, training: training)
            })
    }

    /// The cluster holds gpus / EP replicas of every expert; their bf16 gradients are all-reduced once per
    /// optimizer step. Replicas leave the node when the cluster has more nodes than one EP group spans.
    func gradientSyncSeconds(
        _ workload: LayerWorkload, estimate: ExpertParallelEstimate, parallel: ExpertParallelConfig, request: PlanRequest
    ) -> Double {
        let replicas = request.cluster.gpus / parallel.topology.gpus
        let bytes = Double(estimate.expertsPerRank) * parametersPerExpert(workload) * 2
        let seconds = model.communication.allReduceSeconds(
            bytes: bytes, participants: replicas, crossesNodes: request.cluster.nodes > parallel.topology.nodes)
        return seconds / Double(request.microbatchesPerStep)
    }

    private func parametersPerExpert(_ workload: LayerWorkload) -> Double {
        Double(workload.hidden * workload.upColumns + workload.intermediate * workload.hidden)
    }

    /// Expert parameters per GPU × bytes per parameter (training: bf16 weight and gradient plus fp32 master,
    /// Adam m and v, 16 B; inference: the precision's weight bytes), plus cached activations of every layer
    /// (training) and one layer's transient peak.
    func memoryPerGPU(_ workload: LayerWorkload, estimate: ExpertParallelEstimate, layers: Int, training: Bool) -> Double {
        let parameters = Double(estimate.expertsPerRank) * parametersPerExpert(workload) * Double(layers)
        let layer = estimate.layer
        if training {
            return parameters * 16 + layer.cachedActivationBytes * Double(layers)
                + (layer.peakActivationBytes - layer.cachedActivationBytes)
        }
        return parameters * workload.precision.weightBytes + layer.peakActivationBytes
    }
}
