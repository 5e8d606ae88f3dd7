import Switchyard

/// What the planner optimizes.
public enum PlanObjective: Sendable, Hashable, Codable {
    /// Shortest forward + backward step for a fixed number of tokens per GPU (highest throughput).
    case training
    /// Shortest forward pass for a batch of `batchTokens` tokens spread over the EP group.
    case inferenceLatency(batchTokens: Int)
}

/// A model layer, a cluster and an objective: the question `switchyard plan` answers.
///
/// ```swift
/// let request = PlanRequest(
///     hidden: 4096, intermediate: 1536, experts: 128, topK: 8, tokensPerGPU: 32768,
///     cluster: ClusterTopology(gpusPerNode: 8, nodes: 4), objective: .training)
/// let plan = try Planner(hardware: .h100SXM).plan(request)
/// ```
public struct PlanRequest: Sendable, Hashable {
    public var hidden: Int
    public var intermediate: Int
    public var experts: Int
    public var topK: Int
    public var gated: Bool
    /// T per GPU per training step (ignored for inference, where the batch decides).
    public var tokensPerGPU: Int
    /// The whole cluster; EP groups are carved out of it.
    public var cluster: ClusterTopology
    public var objective: PlanObjective
    public var distribution: RoutingDistribution
    /// MoE layers each GPU holds; when set, candidates whose expert state does not fit are excluded.
    public var layersPerGPU: Int?
    public var precisions: [Precision]
    public var tiles: [TileConfig]
    public var chunkOptions: [Int]
    /// Micro-batches per optimizer step (training): the expert-gradient all-reduce across data-parallel
    /// replicas is paid once per step, so each layer-step carries 1/this of it.
    public var microbatchesPerStep: Int

    /// The tiles the planner tries: 128×128, 128×256, 256×128 and 64×128, 64-wide K steps, 4 stages.
    public static let candidateTiles = [
        TileConfig(m: 128, n: 128), TileConfig(m: 128, n: 256), TileConfig(m: 256, n: 128), TileConfig(m: 64, n: 128),
    ]

    public init(
        hidden: Int, intermediate: Int, experts: Int, topK: Int, gated: Bool = true, tokensPerGPU: Int,
        cluster: ClusterTopology, objective: PlanObjective, distribution: RoutingDistribution = .uniform,
        layersPerGPU: Int? = nil, precisions: [Precision] = Precision.allCases,
        tiles: [TileConfig] = PlanRequest.candidateTiles, chunkOptions: [Int] = [1, 2, 4],
        microbatchesPerStep: Int = 8
    ) {
        self.hidden = hidden
        self.intermediate = intermediate
        self.experts = experts
        self.topK = topK
        self.gated = gated
        self.tokensPerGPU = tokensPerGPU
        self.cluster = cluster
        self.objective = objective
        self.distribution = distribution
        self.layersPerGPU = layersPerGPU
        self.precisions = precisions
        self.tiles = tiles
        self.chunkOptions = chunkOptions
        self.microbatchesPerStep = microbatchesPerStep
    }

    /// EP degrees that divide E and the cluster, and fit its nodes: within one node, or whole nodes.
    public var expertParallelDegrees: [Int] {
        let gpus = cluster.gpus
        return (1...gpus).filter { p in
            experts % p == 0 && gpus % p == 0 && (p <= cluster.gpusPerNode ? cluster.gpusPerNode % p == 0 : p % cluster.gpusPerNode == 0)
        }
    }

    func validate() throws {
        func bad(_ message: String) -> SwitchyardError { SwitchyardError(.invalidConfiguration, message) }
        for (field, value) in [("hidden", hidden), ("intermediate", intermediate), ("experts", experts),
                               ("topK", topK), ("gpusPerNode", cluster.gpusPerNode), ("nodes", cluster.nodes)]
        where value <= 0 {
            throw bad("\(field) must be positive, got \(value)")
        }
        guard topK <= experts else { throw bad("topK (\(topK)) must not exceed experts (\(experts))") }
        switch objective {
        case .training: guard tokensPerGPU > 0 else { throw bad("tokens per GPU must be positive") }
        case .inferenceLatency(let batch): guard batch > 0 else { throw bad("batch must be positive, got \(batch)") }
        }
        guard !precisions.isEmpty, !tiles.isEmpty, !chunkOptions.isEmpty, chunkOptions.allSatisfy({ $0 >= 1 }) else {
            throw bad("the planner needs at least one precision, tile and chunk count (chunks ≥ 1)")
        }
        guard microbatchesPerStep > 0 else { throw bad("micro-batches per step must be positive, got \(microbatchesPerStep)") }
    }
}
