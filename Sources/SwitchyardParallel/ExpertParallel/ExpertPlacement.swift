import Switchyard

/// Which rank holds which experts: each rank has a list of slots, each slot one expert's weights. An expert may
/// sit in several slots on different ranks (a replica of a hot expert); its tokens are then spread over them.
///
/// ```swift
/// let even = try ExpertPlacement.contiguous(experts: 256, ranks: 8)          // 32 experts a rank
/// let balanced = try ExpertPlacement.replicated(loads: measured, ranks: 8, slotsPerRank: 36)
/// ```
public struct ExpertPlacement: Sendable, Hashable {
    /// E: the number of distinct experts.
    public let experts: Int
    /// For each rank, the expert held in each of its slots.
    public let slots: [[Int]]
    /// For each expert, its replicas as (rank, slot) in ascending rank order.
    public let replicas: [[Replica]]

    /// One copy of an expert: the rank that holds it and its slot index there.
    public struct Replica: Sendable, Hashable {
        public var rank: Int
        public var slot: Int
    }

    /// R: the number of ranks.
    public var ranks: Int { slots.count }

    /// Builds a placement from each rank's slot list; throws unless every expert in 0..<experts has at least one
    /// slot, no rank holds an expert twice, and every entry is in range.
    public init(experts: Int, slots: [[Int]]) throws {
        guard experts > 0, !slots.isEmpty else {
            throw SwitchyardError(.invalidConfiguration, "a placement needs experts > 0 and ranks > 0, got \(experts), \(slots.count)")
        }
        var replicas = [[Replica]](repeating: [], count: experts)
        for (rank, held) in slots.enumerated() {
            guard Set(held).count == held.count else {
                throw SwitchyardError(.invalidConfiguration, "rank \(rank) holds an expert twice: \(held)")
            }
            for (slot, expert) in held.enumerated() {
                guard (0..<experts).contains(expert) else {
                    throw SwitchyardError(.invalidConfiguration, "rank \(rank) slot \(slot): expert \(expert) is outside 0..<\(experts)")
                }
                replicas[expert].append(Replica(rank: rank, slot: slot))
            }
        }
        if let missing = replicas.firstIndex(where: \.isEmpty) {
            throw SwitchyardError(.invalidConfiguration, "expert \(missing) has no slot on any rank")
        }
        self.experts = experts
        self.slots = slots
        self.replicas = replicas
    }

    /// Experts split into `ranks` contiguous ranges of equal size: rank r holds r·E/R ..< (r+1)·E/R.
    /// Throws unless `ranks` divides `experts`.
    public static func contiguous(experts: Int, ranks: Int) throws -> ExpertPlacement {
        guard ranks > 0, experts > 0, experts % ranks == 0 else {
            throw SwitchyardError(
                .invalidConfiguration, "contiguous placement needs ranks (\(ranks)) to divide experts (\(experts))")
        }
        let perRank = experts / ranks
        return try ExpertPlacement(experts: experts, slots: (0..<ranks).map { r in Array((r * perRank)..<((r + 1) * perRank)) })
    }

    /// Per-expert arrays of `expertSize` values assembled from every rank's per-slot arrays (`perRank[r]` holds
    /// rank r's slots in order): expert e gets the sum over its replicas (a weight gradient).
    public func summedOverReplicas<S: AdditiveArithmetic>(_ perRank: [[S]], expertSize: Int) -> [S] {
        var full = [S](repeating: .zero, count: experts * expertSize)
        for (rank, held) in slots.enumerated() {
            for (slot, expert) in held.enumerated() {
                for i in 0..<expertSize { full[expert * expertSize + i] += perRank[rank][slot * expertSize + i] }
            }
        }
        return full
    }

    /// The replica that serves token `token` of rank `sourceRank` for `expert`. With one replica that is the only
    /// one; otherwise a replica on the source rank when there is one (no traffic), else one chosen by token index
    /// so that the load spreads evenly and the choice is the same on every run.
    public func replica(of expert: Int, sourceRank: Int, token: Int) -> Replica {
        let copies = replicas[expert]
        if copies.count == 1 { return copies[0] }
        if let local = copies.first(where: { $0.rank == sourceRank }) { return local }
        return copies[(token &+ sourceRank) % copies.count]
    }
}
