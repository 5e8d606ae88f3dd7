/// Dispatch metadata: which expert rows each assignment occupies, in a stable, deterministic order.
///
/// An assignment is a (token t, slot k) pair, flat index a = t·K + k. Kept assignments are laid out
/// expert by expert ("plan order"): expert e owns positions offsets[e] ..< offsets[e+1], and within an
/// expert, assignments appear in increasing a (stable). Dropped assignments (capacity, token rounding)
/// have `positionOfAssignment[a] == -1`.
public struct RoutingPlan: Sendable, Equatable {
    public var tokens: Int
    public var experts: Int
    public var topK: Int
    /// [T·K]: the expert of each assignment (−1 when the slot was dropped).
    public var expertIndex: [Int32]
    /// [E]: kept assignments per expert.
    public var counts: [Int32]
    /// [E + 1]: exclusive prefix sum of `counts`.
    public var offsets: [Int32]
    /// [rows]: for each position in plan order, the token it reads (the gather index).
    public var gatherIndex: [Int32]
    /// [rows]: for each position, its assignment a = t·K + k.
    public var assignmentOfPosition: [Int32]
    /// [T·K]: each assignment's position, or −1 when dropped (the inverse map).
    public var positionOfAssignment: [Int32]

    /// Rows of the grouped GEMMs: kept assignments in all.
    public var rows: Int { Int(offsets.last ?? 0) }

    public init(
        tokens: Int, experts: Int, topK: Int, expertIndex: [Int32], counts: [Int32], offsets: [Int32],
        gatherIndex: [Int32], assignmentOfPosition: [Int32], positionOfAssignment: [Int32]
    ) {
        self.tokens = tokens
        self.experts = experts
        self.topK = topK
        self.expertIndex = expertIndex
        self.counts = counts
        self.offsets = offsets
        self.gatherIndex = gatherIndex
        self.assignmentOfPosition = assignmentOfPosition
        self.positionOfAssignment = positionOfAssignment
    }

    /// Builds the plan from each assignment's expert (−1 = dropped) by a stable counting sort.
    public init(tokens: Int, experts: Int, topK: Int, expertIndex: [Int32]) throws {
        guard expertIndex.count == tokens * topK else {
            throw SwitchyardError(.shapeMismatch, "expertIndex must hold T·K = \(tokens * topK) entries, got \(expertIndex.count)")
        }
        var counts = [Int32](repeating: 0, count: experts)
        for e in expertIndex where e >= 0 {
            guard Int(e) < experts else {
                throw SwitchyardError(.invalidConfiguration, "expert index \(e) out of range 0..<\(experts)")
            }
            counts[Int(e)] += 1
        }
        var offsets = [Int32](repeating: 0, count: experts + 1)
        for e in 0..<experts { offsets[e + 1] = offsets[e] + counts[e] }
        var cursor = Array(offsets.dropLast())
        let rows = Int(offsets[experts])
        var gather = [Int32](repeating: 0, count: rows)
        var assignmentOfPosition = [Int32](repeating: 0, count: rows)
        var positionOfAssignment = [Int32](repeating: -1, count: expertIndex.count)
        for a in expertIndex.indices {
            let e = Int(expertIndex[a])
            guard e >= 0 else { continue }
            let p = Int(cursor[e])
            cursor[e] += 1
            gather[p] = Int32(a / topK)
            assignmentOfPosition[p] = Int32(a)
            positionOfAssignment[a] = Int32(p)
        }
        self.init(
            tokens: tokens, experts: experts, topK: topK, expertIndex: expertIndex, counts: counts, offsets: offsets,
            gatherIndex: gather, assignmentOfPosition: assignmentOfPosition, positionOfAssignment: positionOfAssignment)
    }
}
