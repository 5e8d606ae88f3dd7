import Switchyard

/// N ranks in one process, one thread each, exchanging host buffers: the CPU stand-in for an NCCL group,
/// with the same semantics, for tests and for the CPU reference of expert parallelism.
///
/// ```swift
/// let group = try InProcessGroup(size: 4)
/// let gathered = try group.run { comm in try comm.allGather([Int32(comm.rank)]) }
/// // gathered[r] == [0, 1, 2, 3] for every rank r
/// ```
public final class InProcessGroup: @unchecked Sendable {
    /// The number of ranks.
    public let size: Int
    let barrier: Barrier
    /// One posting per rank for the collective in flight; rank r writes only `postings[r]`, and reads the
    /// others only between the barriers that bracket a collective. Raw storage: threads write distinct slots.
    let postings: UnsafeMutablePointer<CollectivePosting?>

    /// Throws unless `size` ≥ 1.
    public init(size: Int) throws {
        guard size >= 1 else {
            throw SwitchyardError(.invalidConfiguration, "an in-process group needs at least 1 rank, got \(size)")
        }
        self.size = size
        barrier = Barrier(parties: size)
        postings = .allocate(capacity: size)
        postings.initialize(repeating: nil, count: size)
    }

    deinit {
        postings.deinitialize(count: size)
        postings.deallocate()
    }

    /// Runs `body` once per rank, each on its own thread with its own communicator, and returns the results in
    /// rank order. If any rank throws, the others' pending and later collectives throw ``PeerAbortedError``, and
    /// this rethrows the first rank's own error (not a peer-abort).
    public func run<T: Sendable>(_ body: @escaping @Sendable (InProcessCommunicator) throws -> T) throws -> [T] {
        let outcomes = OutcomeBox<T>(count: size)
        runOnThreads(count: size) { rank in
            do {
                outcomes.set(rank, .success(try body(InProcessCommunicator(group: self, rank: rank))))
            } catch {
                outcomes.set(rank, .failure(error))
                self.barrier.abort("rank \(rank): \(error)")
            }
        }
        return try outcomes.results()
    }
}

/// Each rank's result, written by its own thread; read after every thread has been joined.
private final class OutcomeBox<T: Sendable>: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<Result<T, any Error>?>
    init(count: Int) { slots = .allocate(capacity: count); slots.initialize(repeating: nil) }
    deinit {
        _ = slots.deinitialize()
        slots.deallocate()
    }
    func set(_ rank: Int, _ outcome: Result<T, any Error>) { slots[rank] = outcome }

    func results() throws -> [T] {
        let outcomes = Array(slots)
        let failures = outcomes.compactMap { outcome -> (any Error)? in
            if case .failure(let error) = outcome { return error }
            return nil
        }
        if let first = failures.first(where: { !($0 is PeerAbortedError) }) ?? failures.first { throw first }
        return outcomes.map { try! $0!.get() }
    }
}
