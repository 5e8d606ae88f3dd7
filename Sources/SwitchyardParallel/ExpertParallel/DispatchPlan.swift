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
        let ranks = placement.ranks, assignments = expertIndex.count
        // The replica of every assignment (rank −1: dropped). One-replica experts skip the placement's choice.
        let only = placement.replicas.map { $0.count == 1 ? $0[0] : nil }
        var replicaRank = [Int32](repeating: -1, count: assignments), replicaSlot = [Int32](repeating: -1, count: assignments)
        for a in 0..<assignments where expertIndex[a] >= 0 {
            let e = Int(expertIndex[a])
            let replica = only[e] ?? placement.replica(of: e, sourceRank: sourceRank, token: firstToken + a / topK)
            replicaRank[a] = Int32(replica.rank)
            replicaSlot[a] = Int32(replica.slot)
        }
        // Rows per rank: a token counts once for each rank serving any of its choices (`mark` holds the last token
        // that reached a rank).
        var mark = [Int](repeating: -1, count: ranks), counts = [Int](repeating: 0, count: ranks)
        for t in 0..<tokens {
            for k in 0..<topK {
                let r = Int(replicaRank[t * topK + k])
                if r >= 0, mark[r] != t { mark[r] = t; counts[r] += 1 }
            }
        }
        var cursor = [Int](repeating: 0, count: ranks)
        for r in 1..<max(ranks, 1) { cursor[r] = cursor[r - 1] + counts[r - 1] }
        let rows = counts.reduce(0, +)
        var sendTokens = [Int32](repeating: 0, count: rows)
        var sendSlots = [Int32](repeating: -1, count: rows * topK)
        var rowOfAssignment = [Int32](repeating: -1, count: assignments)
        // Tokens ascend, so each rank's rows come out in token order. (Unchecked buffers: this runs on the host
        // between the router and the first dispatch of every EP forward.)
        var rowOnRank = [Int](repeating: 0, count: ranks)
        for r in 0..<ranks { mark[r] = -1 }
        sendTokens.withUnsafeMutableBufferPointer { tokensOut in
            sendSlots.withUnsafeMutableBufferPointer { slotsOut in
                rowOfAssignment.withUnsafeMutableBufferPointer { rowOut in
                    replicaRank.withUnsafeBufferPointer { rankOf in
                        replicaSlot.withUnsafeBufferPointer { slotOf in
                            for t in 0..<tokens {
                                for k in 0..<topK {
                                    let a = t * topK + k, r = Int(rankOf[a])
                                    guard r >= 0 else { continue }
                                    if mark[r] != t {
                                        mark[r] = t
                                        rowOnRank[r] = cursor[r]
                                        cursor[r] += 1
                                        tokensOut[rowOnRank[r]] = Int32(t)
                                    }
                                    slotsOut[rowOnRank[r] * topK + k] = slotOf[a]
                                    rowOut[a] = Int32(rowOnRank[r])
                                }
                            }
                        }
                    }
                }
            }
        }
        self.tokens = tokens
        self.topK = topK
        sendCounts = counts
        self.sendTokens = sendTokens
        self.sendSlots = sendSlots
        self.rowOfAssignment = rowOfAssignment
    }

    /// Rows that leave this rank: all rows except those sent to `sourceRank` itself.
    public func remoteRows(sourceRank: Int) -> Int { rows - sendCounts[sourceRank] }
}
