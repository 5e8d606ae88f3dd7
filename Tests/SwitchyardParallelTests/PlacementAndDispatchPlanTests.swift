import Switchyard
import Testing

@testable import SwitchyardParallel

@Suite struct ExpertPlacementTests {
    @Test func contiguousSplitsExpertsIntoEqualRanges() throws {
        let placement = try ExpertPlacement.contiguous(experts: 8, ranks: 4)
        #expect(placement.slots == [[0, 1], [2, 3], [4, 5], [6, 7]])
        #expect(placement.replicas[5] == [.init(rank: 2, slot: 1)])
        #expect(throws: SwitchyardError.self) { try ExpertPlacement.contiguous(experts: 6, ranks: 4) }
    }

    @Test func replicatedGivesHotExpertsMoreCopiesAndBalancesRanks() throws {
        // Expert 0 carries half of all tokens; 4 ranks × 3 slots for 8 experts leaves 4 spare slots.
        let loads: [Double] = [800, 100, 100, 100, 100, 100, 150, 50]
        let placement = try ExpertPlacement.replicated(loads: loads, ranks: 4, slotsPerRank: 3)
        #expect(placement.slots.allSatisfy { $0.count == 3 })
        #expect(placement.replicas.allSatisfy { !$0.isEmpty })
        #expect(placement.replicas[0].count == 4, "the hottest expert should get a replica on every rank")
        for copies in placement.replicas { #expect(Set(copies.map(\.rank)).count == copies.count) }
        // Per-rank load with each expert's load split evenly over its replicas, against the contiguous split.
        func maxRankLoad(_ p: ExpertPlacement) -> Double {
            p.slots.map { $0.reduce(0) { $0 + loads[$1] / Double(p.replicas[$1].count) } }.max()!
        }
        let even = try ExpertPlacement.contiguous(experts: 8, ranks: 4)
        #expect(maxRankLoad(placement) < maxRankLoad(even) / 2)
    }

    @Test func rejectsPlacementsThatLoseAnExpert() {
        #expect(throws: SwitchyardError.self) { try ExpertPlacement(experts: 3, slots: [[0], [1]]) }
        #expect(throws: SwitchyardError.self) { try ExpertPlacement(experts: 2, slots: [[0, 0], [1]]) }
        #expect(throws: SwitchyardError.self) { try ExpertPlacement.replicated(loads: [1, 2, 3], ranks: 1, slotsPerRank: 2) }
    }
}

@Suite struct DispatchPlanTests {
    @Test func handWorkedExampleDeduplicatesPerRank() throws {
        // 4 experts on 2 ranks (0,1 | 2,3), K = 2, three tokens:
        //   t0 → experts 0, 1 (both on rank 0: one row), t1 → 3, 0 (one row each), t2 → 2, −1 (dropped slot).
        let placement = try ExpertPlacement.contiguous(experts: 4, ranks: 2)
        let plan = try DispatchPlan(
            expertIndex: [0, 1, 3, 0, 2, -1], tokens: 3, topK: 2, placement: placement, sourceRank: 0)
        #expect(plan.sendCounts == [2, 2])
        #expect(plan.sendTokens == [0, 1, 1, 2])
        // Rows: (r0,t0) slots 0,1; (r0,t1) choice 1 → slot 0; (r1,t1) choice 0 → slot 1; (r1,t2) choice 0 → slot 0.
        #expect(plan.sendSlots == [0, 1, -1, 0, 1, -1, 0, -1])
        #expect(plan.rowOfAssignment == [0, 0, 2, 1, 3, -1])
        #expect(plan.remoteRows(sourceRank: 0) == 2)
    }

    @Test(arguments: [1, 2, 4, 8])
    func everyAssignmentTravelsOnceToItsExpertsRank(ranks: Int) throws {
        let (tokens, experts, topK) = (37, 16, 4)
        var generator = SeededGenerator(seed: UInt64(ranks))
        var expertIndex: [Int32] = []
        for _ in 0..<tokens {
            var chosen = Set<Int32>()
            while chosen.count < topK { chosen.insert(Int32(generator.next() % UInt64(experts))) }
            expertIndex += chosen.sorted()
        }
        let placement = try ExpertPlacement.contiguous(experts: experts, ranks: ranks)
        let plan = try DispatchPlan(expertIndex: expertIndex, tokens: tokens, topK: topK, placement: placement, sourceRank: 0)
        let rankOfRow = plan.sendCounts.enumerated().flatMap { r, n in [Int](repeating: r, count: n) }
        for t in 0..<tokens {
            let destinations = Set(expertIndex[(t * topK)..<((t + 1) * topK)].map { Int($0) / (experts / ranks) })
            let rowsOfToken = plan.sendTokens.indices.filter { plan.sendTokens[$0] == t }
            #expect(Set(rowsOfToken.map { rankOfRow[$0] }) == destinations)
            #expect(rowsOfToken.count == destinations.count, "a token goes once to each destination rank")
            for k in 0..<topK {
                let row = Int(plan.rowOfAssignment[t * topK + k])
                let expert = Int(expertIndex[t * topK + k])
                #expect(plan.sendTokens[row] == t)
                #expect(placement.slots[rankOfRow[row]][Int(plan.sendSlots[row * topK + k])] == expert)
            }
        }
        for r in 0..<ranks {
            let start = plan.sendCounts[..<r].reduce(0, +)
            let tokensOfRank = plan.sendTokens[start..<(start + plan.sendCounts[r])]
            #expect(tokensOfRank.elementsEqual(tokensOfRank.sorted()), "rows of a rank must be in token order")
        }
    }
}

/// The GPU dispatch plan picks replicas from tables built on the host; they must reproduce the placement's own rule
/// for every expert, source rank and token.
@Test(arguments: [2, 3, 4])
func replicaTablesMatchThePlacementRule(ranks: Int) throws {
    let experts = 10
    let placement = try ExpertPlacement.replicated(
        loads: (0..<experts).map { 1 / Double($0 + 1) }, ranks: ranks, slotsPerRank: (experts + ranks - 1) / ranks + 2)
    #expect(placement.replicas.contains { $0.count > 1 })  // the case must exercise replicas
    for source in 0..<ranks {
        let table = GPUExpertParallelLayer.replicaChoices(placement: placement, sourceRank: source)
        for e in 0..<experts {
            for t in 0..<37 {
                let count = Int(table.count[e])
                let at = Int(table.offset[e]) + (count == 1 ? 0 : (t + source) % count)
                let want = placement.replica(of: e, sourceRank: source, token: t)
                #expect(Int(table.rank[at]) == want.rank && Int(table.slot[at]) == want.slot, "expert \(e) rank \(source) token \(t)")
            }
        }
    }
}

/// Per-rank slot arrays assemble into per-expert arrays with replicas summed (how EP weight gradients are read back).
@Test func summedOverReplicasAddsEveryCopyOfAnExpert() throws {
    let placement = try ExpertPlacement(experts: 3, slots: [[0, 2], [2, 1]])  // expert 2 on both ranks
    let perRank: [[Int]] = [[1, 2, 30, 40], [500, 600, 7000, 8000]]  // two values a slot
    #expect(placement.summedOverReplicas(perRank, expertSize: 2) == [1, 2, 7000, 8000, 530, 640])
}
