#if canImport(Glibc)
import Glibc
#endif
import Switchyard
import Testing

@testable import SwitchyardParallel

/// The rendezvous transports need no NCCL: the id is any 128-byte string, exchanged here between threads.
@Suite struct RendezvousTests {
    private func exchange(_ rendezvous: NCCLRendezvous, size: Int) throws -> [[UInt8]] {
        let id = (0..<NCCLLibrary.uniqueIDBytes).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
        let group = try InProcessGroup(size: size)
        return try group.run { comm in
            try rendezvous.exchange(rank: comm.rank, size: size, timeoutSeconds: 20) { id }
        }
    }

    @Test func tcpStoreHandsRankZerosIdToEveryRank() throws {
        let port = 20_000 + Int(getpid() % 20_000)
        let ids = try exchange(.tcp(host: "127.0.0.1", port: port), size: 4)
        #expect(ids.allSatisfy { $0 == ids[0] })
        #expect(ids[0].count == NCCLLibrary.uniqueIDBytes)
    }

    @Test func fileStoreHandsRankZerosIdToEveryRank() throws {
        let path = "/tmp/switchyard-rendezvous-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(path) }
        let ids = try exchange(.file(path: path), size: 3)
        #expect(ids.allSatisfy { $0 == ids[0] })
    }

    @Test func fileStoreTimesOutWithoutRankZero() {
        #expect(throws: SwitchyardError.self) {
            try NCCLRendezvous.file(path: "/tmp/switchyard-no-such-rendezvous-\(getpid())")
                .exchange(rank: 1, size: 2, timeoutSeconds: 0.3) { [] }
        }
    }
}
