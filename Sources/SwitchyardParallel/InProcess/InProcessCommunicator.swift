#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Switchyard
import SwitchyardFormats

/// One rank of an ``InProcessGroup``. Buffers are host memory; every collective is blocking and
/// deterministic (reductions add ranks in ascending order, starting from rank 0's value).
public final class InProcessCommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public var size: Int { group.size }
    public var device: DeviceKind { .cpu }
    private let group: InProcessGroup

    init(group: InProcessGroup, rank: Int) {
        self.group = group
        self.rank = rank
    }

    public func allToAllV(send: TensorView, sendCounts: [Int], receive: TensorView, receiveCounts: [Int]) throws {
        let local = Result {
            try CollectiveChecks.requireAllToAll(
                send: send, sendCounts: sendCounts, receive: receive, receiveCounts: receiveCounts, size: size,
                device: .cpu)
        }
        let posting = CollectivePosting(
            kind: .allToAllV, send: send, receive: receive, sendCounts: sendCounts, receiveCounts: receiveCounts,
            localError: local.errorMessage)
        try perform(posting) { all in
            for (q, peer) in all.enumerated() where peer.sendCounts[rank] != receiveCounts[q] {
                throw SwitchyardError(
                    .shapeMismatch,
                    "all-to-all-v: rank \(q) sends \(peer.sendCounts[rank]) elements to rank \(rank), which expects "
                        + "\(receiveCounts[q])")
            }
            let width = send.dtype.byteSize
            var bytes = [UInt8](repeating: 0, count: receiveCounts.reduce(0, +) * width)
            var written = 0
            bytes.withUnsafeMutableBytes { out in
                for (q, peer) in all.enumerated() {
                    let offset = peer.sendCounts[..<rank].reduce(0, +) * width
                    let length = receiveCounts[q] * width
                    if length > 0 {
                        memcpy(out.baseAddress! + written, UnsafeRawPointer(bitPattern: peer.send.address)! + offset, length)
                    }
                    written += length
                }
            }
            return bytes
        }
    }

    public func allGather(send: TensorView, receive: TensorView, count: Int) throws {
        let local = Result {
            try CollectiveChecks.requireBuffer(send, holds: count, "all-gather send buffer", device: .cpu)
            try CollectiveChecks.requireBuffer(receive, holds: count * size, "all-gather receive buffer", device: .cpu)
        }
        let posting = CollectivePosting(kind: .allGather, send: send, receive: receive, count: count, localError: local.errorMessage)
        try perform(posting) { all in
            let length = count * send.dtype.byteSize
            var bytes = [UInt8](repeating: 0, count: length * size)
            bytes.withUnsafeMutableBytes { out in
                for (q, peer) in all.enumerated() where length > 0 {
                    memcpy(out.baseAddress! + q * length, UnsafeRawPointer(bitPattern: peer.send.address)!, length)
                }
            }
            return bytes
        }
    }

    public func reduceScatter(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws {
        let local = Result {
            try CollectiveChecks.requireReducible(send.dtype)
            try CollectiveChecks.requireBuffer(send, holds: count * size, "reduce-scatter send buffer", device: .cpu)
            try CollectiveChecks.requireBuffer(receive, holds: count, "reduce-scatter receive buffer", device: .cpu)
        }
        let posting = CollectivePosting(
            kind: .reduceScatter, send: send, receive: receive, count: count, op: op, localError: local.errorMessage)
        try perform(posting) { all in
            try HostReduction.reduce(all.map(\.send), offset: rank * count, count: count, dtype: send.dtype, op: op)
        }
    }

    public func allReduce(send: TensorView, receive: TensorView, count: Int, op: ReductionOperation) throws {
        let local = Result {
            try CollectiveChecks.requireReducible(send.dtype)
            try CollectiveChecks.requireBuffer(send, holds: count, "all-reduce send buffer", device: .cpu)
            try CollectiveChecks.requireBuffer(receive, holds: count, "all-reduce receive buffer", device: .cpu)
        }
        let posting = CollectivePosting(
            kind: .allReduce, send: send, receive: receive, count: count, op: op, localError: local.errorMessage)
        try perform(posting) { all in
            try HostReduction.reduce(all.map(\.send), offset: 0, count: count, dtype: send.dtype, op: op)
        }
    }

    /// Posts this rank's arguments, waits for every rank, computes this rank's result from all postings into
    /// private bytes, waits again (so that no rank writes a buffer a peer may still read: send and receive may
    /// alias), then writes the result into `receive`. All ranks see the same postings, so they agree on errors.
    private func perform(_ posting: CollectivePosting, compute: ([CollectivePosting]) throws -> [UInt8]) throws {
        group.postings[rank] = posting
        try group.barrier.wait()
        let all = (0..<size).map { group.postings[$0]! }
        let outcome = Result { () throws -> [UInt8] in
            try CollectivePosting.requireConsistent(all)
            return try compute(all)
        }
        try group.barrier.wait()
        let bytes = try outcome.get()
        if !bytes.isEmpty {
            bytes.withUnsafeBytes { _ = memcpy(UnsafeMutableRawPointer(bitPattern: posting.receive.address)!, $0.baseAddress!, $0.count) }
        }
    }
}

/// One rank's arguments to the collective in flight.
struct CollectivePosting {
    enum Kind: String { case allToAllV = "all-to-all-v", allGather = "all-gather", reduceScatter = "reduce-scatter", allReduce = "all-reduce" }
    var kind: Kind
    var send: TensorView
    var receive: TensorView
    var sendCounts: [Int] = []
    var receiveCounts: [Int] = []
    var count = 0
    var op = ReductionOperation.sum
    /// Why this rank's own arguments are invalid, if they are.
    var localError: String?

    /// Throws the same error on every rank when any rank's arguments are invalid or the ranks disagree.
    static func requireConsistent(_ all: [CollectivePosting]) throws {
        for (q, posting) in all.enumerated() {
            if let message = posting.localError {
                throw SwitchyardError(.invalidConfiguration, "rank \(q): \(message)")
            }
        }
        let first = all[0]
        for (q, posting) in all.enumerated().dropFirst() {
            guard posting.kind == first.kind else {
                throw SwitchyardError(
                    .invalidConfiguration,
                    "ranks called different collectives: rank 0 \(first.kind.rawValue), rank \(q) \(posting.kind.rawValue)")
            }
            guard posting.send.dtype == first.send.dtype, posting.count == first.count, posting.op == first.op else {
                throw SwitchyardError(
                    .invalidConfiguration,
                    "\(first.kind.rawValue): rank \(q) disagrees with rank 0 on dtype, count or operation "
                        + "(\(posting.send.dtype.rawValue), \(posting.count), \(posting.op) vs \(first.send.dtype.rawValue), "
                        + "\(first.count), \(first.op))")
            }
        }
    }
}

extension Result where Failure == any Error {
    /// The failure's text, or nil on success.
    var errorMessage: String? {
        if case .failure(let error) = self { return "\(error)" }
        return nil
    }
}
