import Switchyard

/// The source rank's side of dispatch and combine for its own tokens: which tokens go to which rank, each token
/// once per destination rank however many of its K choices live there, in a fixed order.
///
/// Rows of the send buffer are grouped by destination rank (ascending) and, within a rank, by token (ascending).
/// Each row carries K slot entries: the destination's local slot for choice k when that choice is served there,
/// −1 otherwise. Combine returns one partial output per row in the same order; the source adds a token's
/// partials in ascending row order, which is ascending destination rank.
///
/// ```swift
/// let plan = try DispatchPlan(expertIndex: idx, tokens: T, topK: K, placement: placement, sourceRank: comm.rank)
/// plan.sendCounts      // tokens to each rank
/// plan.sendTokens      // the token of each row
/// ```
public struct DispatchPlan: Sendable, Equatable {
    public let tokens: Int
    public let topK: Int
    /// [R]: rows sent to each rank.
    public let sendCounts: [Int]
    /// [rows]: the source token of each row.
    public let sendTokens: [Int32]
    /// [rows × K]: the destination slot that serves choice k of the row's token, or −1.
    public let sendSlots: [Int32]
    /// [T·K]: the row that carries assignment t·K + k, or −1 when the assignment was dropped.
    public let rowOfAssignment: [Int32]

    /// Rows in all: Σ sendCounts.
    public var rows: Int { sendTokens.count }

    /// Plans dispatch for `tokens` tokens whose K choices are `expertIndex` ([T·K], −1 = dropped).
    /// `firstToken` is the index of the first of them among the rank's tokens (when the batch is sent in chunks),
    /// so that the choice between replicas does not depend on the chunking.
    public init(
        expertIndex: [Int32], tokens: Int, topK: Int, placement: ExpertPlacement, sourceRank: Int, firstToken: Int = 0
    ) throws {
        guard expertIndex.count == tokens * topK else {
            throw SwitchyardError(.shapeMismatch, "expertIndex must hold T·K = \(tokens * topK) entries, got \(expertIndex.count)")
        }
        guard (0..<placement.ranks).contains(sourceRank) else {
            throw SwitchyardError(.invalidConfiguration, "source rank \(sourceRank) is outside 0..<\(placement.ranks)")
        }
        if let bad = expertIndex.first(where: { $0 >= placement.experts || $0 < -1 }) {
            throw SwitchyardError(.invalidConfiguration, "expert index \(bad) is outside -1..<\(placement.experts)")
        }
        let ranks = placement.ranks
        // The replica of every assignment, then the rows: for each rank, the tokens with a choice served there.
        var replicaOf = [ExpertPlacement.Replica?](repeating: nil, count: expertIndex.count)
        var tokensOfRank = [[Int32]](repeating: [], count: ranks)
        for t in 0..<tokens {
            var seen = [Bool](repeating: false, count: ranks)
            for k in 0..<topK where expertIndex[t * topK + k] >= 0 {
                let replica = placement.replica(
                    of: Int(expertIndex[t * topK + k]), sourceRank: sourceRank, token: firstToken + t)
                replicaOf[t * topK + k] = replica
                if !seen[replica.rank] {
                    seen[replica.rank] = true
                    tokensOfRank[replica.rank].append(Int32(t))
                }
            }
        }
        var rowStart = [Int](repeating: 0, count: ranks + 1)
        for r in 0..<ranks { rowStart[r + 1] = rowStart[r] + tokensOfRank[r].count }
        let rows = rowStart[ranks]
        var sendSlots = [Int32](repeating: -1, count: rows * topK)
        var rowOfAssignment = [Int32](repeating: -1, count: expertIndex.count)
        // Row of (rank, token): tokens of a rank are ascending, so a cursor per rank finds it as t advances.
        var cursor = Array(rowStart.dropLast())
        for t in 0..<tokens {
            var rowOnRank = [Int: Int]()
            for k in 0..<topK {
                guard let replica = replicaOf[t * topK + k] else { continue }
                let row: Int
                if let existing = rowOnRank[replica.rank] {
                    row = existing
                } else {
                    row = cursor[replica.rank]
                    cursor[replica.rank] += 1
                    rowOnRank[replica.rank] = row
                }
                sendSlots[row * topK + k] = Int32(replica.slot)
                rowOfAssignment[t * topK + k] = Int32(row)
            }
        }
        self.tokens = tokens
        self.topK = topK
        sendCounts = tokensOfRank.map(\.count)
        sendTokens = tokensOfRank.flatMap { $0 }
        self.sendSlots = sendSlots
        self.rowOfAssignment = rowOfAssignment
    }

    /// Rows that leave this rank: all rows except those sent to `sourceRank` itself.
    public func remoteRows(sourceRank: Int) -> Int { rows - sendCounts[sourceRank] }
}
