import Switchyard

/// The GPUs of one expert-parallel group: `nodes` nodes of `gpusPerNode` GPUs, linked by NVLink inside a node
/// and InfiniBand across nodes. Ranks are numbered node by node.
public struct ClusterTopology: Sendable, Hashable, Codable {
    public var gpusPerNode: Int
    public var nodes: Int

    public init(gpusPerNode: Int, nodes: Int) {
        self.gpusPerNode = gpusPerNode
        self.nodes = nodes
    }

    public var gpus: Int { gpusPerNode * nodes }
    public func node(of rank: Int) -> Int { rank / gpusPerNode }

    /// The group of an EP degree spread evenly over `nodes` nodes: `ep / nodes` GPUs in each.
    public init(expertParallel ep: Int, nodes: Int) throws {
        guard ep > 0, nodes > 0, ep % nodes == 0 else {
            throw SwitchyardError(.invalidConfiguration, "EP degree \(ep) must be a positive multiple of nodes (\(nodes))")
        }
        self.init(gpusPerNode: ep / nodes, nodes: nodes)
    }
}

/// All-to-all algorithms: every rank sends to every rank directly, or one message per node pair over
/// InfiniBand that the receiving GPU forwards over NVLink (DeepEP's internode scheme).
public enum AllToAllAlgorithm: String, CaseIterable, Sendable, Hashable, Codable {
    case flat, hierarchical
}

/// Bytes the busiest rank moves over each link in one all-to-all: max over ranks of max(sent, received),
/// since links are full duplex.
public struct LinkTraffic: Sendable, Hashable, Codable {
    public var nvlinkBytes: Double
    public var infinibandBytes: Double

    public init(nvlinkBytes: Double, infinibandBytes: Double) {
        self.nvlinkBytes = nvlinkBytes
        self.infinibandBytes = infinibandBytes
    }

    /// The same traffic with every volume multiplied by `factor` (one chunk of a chunked all-to-all).
    public func scaled(by factor: Double) -> LinkTraffic {
        LinkTraffic(nvlinkBytes: nvlinkBytes * factor, infinibandBytes: infinibandBytes * factor)
    }
}

/// Dispatch and combine volumes and times under the α–β model, per link.
///
/// A token's K choices fall on experts; each expert e is chosen with inclusion probability
/// π_e = min(1, K·load_e) (Σπ = K), independently. A token goes once to each distinct remote rank it hits:
/// P(hit rank j) = 1 − Π_{copies c on j} (1 − π_e·share_c). Per node the same with the node's copies.
public struct CommunicationModel: Sendable {
    public var hardware: Hardware
    public var calibration: Calibration

    public init(hardware: Hardware, calibration: Calibration = .default) {
        self.hardware = hardware
        self.calibration = calibration
    }

    /// P(a token sends a copy to rank j), for every rank.
    public static func rankHitProbabilities(loads: [Double], topK: Int, placement: ExpertPlacement) -> [Double] {
        var miss = Array(repeating: 1.0, count: placement.ranks)
        for (expert, list) in placement.copies.enumerated() {
            let inclusion = min(1, Double(topK) * loads[expert])
            for copy in list { miss[copy.rank] *= 1 - inclusion * copy.share }
        }
        return miss.map { 1 - $0 }
    }

    /// P(a token sends at least one copy into node m), for every node.
    public static func nodeHitProbabilities(
        loads: [Double], topK: Int, placement: ExpertPlacement, topology: ClusterTopology
    ) -> [Double] {
        var miss = Array(repeating: 1.0, count: topology.nodes)
        for (expert, list) in placement.copies.enumerated() {
            let inclusion = min(1, Double(topK) * loads[expert])
            for copy in list { miss[topology.node(of: copy.rank)] *= 1 - inclusion * copy.share }
        }
        return miss.map { 1 - $0 }
    }

    /// Link traffic of one all-to-all where every rank holds `tokens` tokens and each copy is `bytesPerCopy`.
    ///
    /// Flat: rank j sends T·b·Σ h_i to the other ranks of its node over NVLink and to the other nodes' ranks over
    /// InfiniBand; it receives (G−1)·T·b·h_j over NVLink and (P−G)·T·b·h_j over InfiniBand.
    /// Hierarchical: one copy per hit remote node over InfiniBand (send T·b·Σ_{m′≠m} H_m′, receive (N−1)·T·b·H_m),
    /// then NVLink forwarding inside the node (send N·T·b·Σ_{i≠j in node} h_i, receive N·(G−1)·T·b·h_j).
    public static func traffic(
        tokens: Int, bytesPerCopy: Double, rankHits: [Double], nodeHits: [Double], topology: ClusterTopology,
        algorithm: AllToAllAlgorithm
    ) -> LinkTraffic {
        let t = Double(tokens), b = bytesPerCopy
        let g = Double(topology.gpusPerNode), nodes = Double(topology.nodes), p = Double(topology.gpus)
        var nvlink = 0.0, infiniband = 0.0
        for rank in 0..<topology.gpus {
            let node = topology.node(of: rank)
            let sameNode = (0..<topology.gpus).filter { topology.node(of: $0) == node && $0 != rank }
            let localHits = sameNode.reduce(0) { $0 + rankHits[$1] }
            let remoteRankHits = rankHits.reduce(0, +) - localHits - rankHits[rank]
            let h = rankHits[rank]
            switch algorithm {
            case .flat:
                nvlink = max(nvlink, t * b * localHits, (g - 1) * t * b * h)
                infiniband = max(infiniband, t * b * remoteRankHits, (p - g) * t * b * h)
            case .hierarchical:
                let remoteNodeHits = nodeHits.reduce(0, +) - nodeHits[node]
                infiniband = max(infiniband, t * b * remoteNodeHits, (nodes - 1) * t * b * nodeHits[node])
                nvlink = max(nvlink, nodes * t * b * localHits, nodes * (g - 1) * t * b * h)
            }
        }
        return LinkTraffic(nvlinkBytes: nvlink, infinibandBytes: infiniband)
    }

    /// Seconds of one all-to-all: the two links run concurrently,
    /// t = max(α_nv + V_nv/(β_nv·eff), α_ib + V_ib/(β_ib·eff)), a link with no bytes costing nothing.
    public func seconds(_ traffic: LinkTraffic) -> Double {
        func link(_ bytes: Double, _ link: Link, _ efficiency: Double) -> Double {
            bytes > 0 ? link.latency + bytes / (link.bandwidth * efficiency) : 0
        }
        return max(
            link(traffic.nvlinkBytes, hardware.nvlink, calibration.nvlinkEfficiency),
            link(traffic.infinibandBytes, hardware.infiniband, calibration.infinibandEfficiency))
    }

    /// Seconds of a ring all-reduce (reduce-scatter + all-gather) of `bytes` over `participants` GPUs:
    /// α + 2·(p − 1)/p · bytes / (β·eff), over InfiniBand when the ring leaves the node, else NVLink.
    public func allReduceSeconds(bytes: Double, participants: Int, crossesNodes: Bool) -> Double {
        guard participants > 1, bytes > 0 else { return 0 }
        let link = crossesNodes ? hardware.infiniband : hardware.nvlink
        let efficiency = crossesNodes ? calibration.infinibandEfficiency : calibration.nvlinkEfficiency
        let p = Double(participants)
        return link.latency + 2 * (p - 1) / p * bytes / (link.bandwidth * efficiency)
    }

    /// Percent of the bottleneck link's vendor bandwidth the all-to-all reaches.
    public func percentOfPeak(_ traffic: LinkTraffic, seconds: Double) -> Double {
        guard seconds > 0 else { return 0 }
        let nvlink = traffic.nvlinkBytes / hardware.nvlink.bandwidth
        let infiniband = traffic.infinibandBytes / hardware.infiniband.bandwidth
        return 100 * max(nvlink, infiniband) / seconds
    }
}
