import Switchyard
import Testing

@testable import SwitchyardParallel

@Suite struct InProcessCommunicatorTests {
    @Test(arguments: [1, 2, 3, 4, 8])
    func allToAllVDeliversEachSegmentToItsPeer(size: Int) throws {
        // Rank r sends (r + q) % 3 elements to rank q, each tagged 1000·r + 10·q + i, so every received element
        // names its sender, its receiver and its position.
        let group = try InProcessGroup(size: size)
        let received = try group.run { comm in
            let r = comm.rank
            let sendCounts = (0..<size).map { q in (r + q) % 3 }
            var send: [Int64] = []
            for q in 0..<size { for i in 0..<sendCounts[q] { send.append(Int64(1000 * r + 10 * q + i)) } }
            let receiveCounts = try comm.exchangeCounts(sendCounts)
            return try comm.allToAllV(send, sendCounts: sendCounts, receiveCounts: receiveCounts)
        }
        for r in 0..<size {
            var expected: [Int64] = []
            for q in 0..<size { for i in 0..<((q + r) % 3) { expected.append(Int64(1000 * q + 10 * r + i)) } }
            #expect(received[r] == expected)
        }
    }

    @Test func allGatherOrdersByRank() throws {
        let group = try InProcessGroup(size: 4)
        let gathered = try group.run { comm in try comm.allGather([Int32(comm.rank), Int32(-comm.rank)]) }
        for result in gathered { #expect(result == [0, 0, 1, -1, 2, -2, 3, -3]) }
    }

    @Test func allReduceAndReduceScatterSumInRankOrder() throws {
        let size = 4
        let group = try InProcessGroup(size: size)
        let results = try group.run { comm in
            let values = (0..<8).map { Double(comm.rank + 1) * Double($0 + 1) }
            let sum = try comm.allReduce(values, op: .sum)
            let maximum = try comm.allReduce(values.map(Float.init), op: .max)
            let scattered = try comm.reduceScatter(values, op: .sum)
            return (sum, maximum, scattered)
        }
        // Σ_r (r + 1) = 10 for 4 ranks.
        let expectedSum = (0..<8).map { 10 * Double($0 + 1) }
        for (r, (sum, maximum, scattered)) in results.enumerated() {
            #expect(sum == expectedSum)
            #expect(maximum == (0..<8).map { 4 * Float($0 + 1) })
            #expect(scattered == Array(expectedSum[(2 * r)..<(2 * r + 2)]))
        }
    }

    @Test func mismatchedCountsFailOnEveryRank() throws {
        let group = try InProcessGroup(size: 2)
        #expect(throws: SwitchyardError.self) {
            _ = try group.run { comm in
                // Each rank claims to receive 2 from each peer, but sends only 1.
                try comm.allToAllV([Float](repeating: 1, count: 2), sendCounts: [1, 1], receiveCounts: [2, 2])
            }
        }
    }

    @Test func aFailingRankReleasesItsPeers() throws {
        struct Boom: Error {}
        let group = try InProcessGroup(size: 3)
        #expect(throws: Boom.self) {
            _ = try group.run { comm in
                if comm.rank == 1 { throw Boom() }
                return try comm.allReduce([1.0], op: .sum)
            }
        }
    }

    @Test func rejectsAnEmptyGroup() {
        #expect(throws: SwitchyardError.self) { try InProcessGroup(size: 0) }
    }
}
