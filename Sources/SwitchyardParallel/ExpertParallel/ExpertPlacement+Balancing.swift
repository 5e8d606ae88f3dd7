import Switchyard

extension ExpertPlacement {
    /// An EPLB-style placement from measured loads (tokens routed to each expert): `ranks × slotsPerRank` slots,
    /// one per expert first, the spare ones to the experts whose load per replica is highest; then replicas, heaviest
    /// first, go to the least-loaded rank with a free slot that does not hold that expert yet. Deterministic: ties
    /// go to the lower expert or rank index.
    ///
    /// Throws unless `ranks × slotsPerRank ≥ experts`, `slotsPerRank ≤ experts` and every load is finite and ≥ 0.
    public static func replicated(loads: [Double], ranks: Int, slotsPerRank: Int) throws -> ExpertPlacement {
        let experts = loads.count
        guard experts > 0, ranks > 0, slotsPerRank > 0 else {
            throw SwitchyardError(.invalidConfiguration, "need experts, ranks and slots per rank > 0")
        }
        guard ranks * slotsPerRank >= experts, slotsPerRank <= experts else {
            throw SwitchyardError(
                .invalidConfiguration,
                "\(ranks) ranks × \(slotsPerRank) slots must hold all \(experts) experts, and a rank can hold at most "
                    + "\(experts) distinct experts")
        }
        guard loads.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw SwitchyardError(.invalidConfiguration, "expert loads must be finite and ≥ 0")
        }
        var copies = [Int](repeating: 1, count: experts)
        for _ in experts..<(ranks * slotsPerRank) {
            // An expert cannot have more replicas than there are ranks (one per rank at most).
            let candidates = (0..<experts).filter { copies[$0] < ranks }
            let hottest = candidates.max { a, b in
                let (la, lb) = (loads[a] / Double(copies[a]), loads[b] / Double(copies[b]))
                return la < lb || (la == lb && a > b)
            }
            guard let expert = hottest else { break }
            copies[expert] += 1
        }
        var pieces: [(expert: Int, load: Double)] = []
        for e in 0..<experts { for _ in 0..<copies[e] { pieces.append((e, loads[e] / Double(copies[e]))) } }
        pieces.sort { $0.load > $1.load || ($0.load == $1.load && $0.expert < $1.expert) }

        var slots = [[Int]](repeating: [], count: ranks)
        var rankLoad = [Double](repeating: 0, count: ranks)
        for piece in pieces {
            let open = (0..<ranks).filter { slots[$0].count < slotsPerRank && !slots[$0].contains(piece.expert) }
            guard let rank = open.min(by: { rankLoad[$0] < rankLoad[$1] || (rankLoad[$0] == rankLoad[$1] && $0 < $1) })
            else {
                throw SwitchyardError(.invalidConfiguration, "no rank has a free slot for a replica of expert \(piece.expert)")
            }
            slots[rank].append(piece.expert)
            rankLoad[rank] += piece.load
        }
        return try ExpertPlacement(experts: experts, slots: slots.map { $0.sorted() })
    }
}
