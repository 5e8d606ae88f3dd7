/// Which ranks host each expert, and the share of the expert's tokens each copy takes.
///
/// Without replication expert e lives on rank e / (E/P). ``replicated(loads:ranks:replicasPerRank:)`` adds
/// copies of the hottest experts (EPLB-style) and splits their tokens evenly over the copies.
public struct ExpertPlacement: Sendable, Hashable {
    public struct Copy: Sendable, Hashable {
        public var rank: Int
        public var share: Double
    }

    public var ranks: Int
    /// For each expert, its copies.
    public var copies: [[Copy]]

    /// Contiguous blocks of E/P experts per rank. E must be a multiple of `ranks`.
    public static func contiguous(experts: Int, ranks: Int) -> ExpertPlacement {
        precondition(ranks > 0 && experts % ranks == 0, "experts must divide evenly over the ranks")
        let perRank = experts / ranks
        return ExpertPlacement(ranks: ranks, copies: (0..<experts).map { [Copy(rank: $0 / perRank, share: 1)] })
    }

    /// Contiguous placement plus `replicasPerRank` extra slots on every rank, each filled greedily with a copy of
    /// the expert whose per-copy load is highest, on the least-loaded rank that has a free slot and no copy yet.
    public static func replicated(loads: [Double], ranks: Int, replicasPerRank: Int) -> ExpertPlacement {
        var placement = contiguous(experts: loads.count, ranks: ranks)
        var freeSlots = Array(repeating: replicasPerRank, count: ranks)
        for _ in 0..<(replicasPerRank * ranks) {
            let rankLoads = placement.rankLoads(loads)
            let candidates = loads.indices.sorted {
                loads[$0] / Double(placement.copies[$0].count) > loads[$1] / Double(placement.copies[$1].count)
            }
            var placed = false
            for expert in candidates {
                let hosts = Set(placement.copies[expert].map(\.rank))
                let open = (0..<ranks).filter { freeSlots[$0] > 0 && !hosts.contains($0) }
                guard let target = open.min(by: { rankLoads[$0] < rankLoads[$1] }) else { continue }
                freeSlots[target] -= 1
                let count = Double(placement.copies[expert].count + 1)
                placement.copies[expert] = (Array(hosts) + [target]).sorted().map { Copy(rank: $0, share: 1 / count) }
                placed = true
                break
            }
            if !placed { break }
        }
        return placement
    }

    /// Each rank's share of all assignments.
    public func rankLoads(_ loads: [Double]) -> [Double] {
        var result = Array(repeating: 0.0, count: ranks)
        for (expert, list) in copies.enumerated() {
            for copy in list { result[copy.rank] += loads[expert] * copy.share }
        }
        return result
    }

    /// Copies hosted on each rank, as (expert, share) pairs.
    public func hosted(on rank: Int) -> [(expert: Int, share: Double)] {
        copies.enumerated().flatMap { expert, list in
            list.filter { $0.rank == rank }.map { (expert: expert, share: $0.share) }
        }
    }

    /// The most expert copies any rank hosts: E/P, plus the replicas (their weights cost memory).
    public var maxCopiesPerRank: Int {
        (0..<ranks).map { hosted(on: $0).count }.max() ?? 0
    }
}
