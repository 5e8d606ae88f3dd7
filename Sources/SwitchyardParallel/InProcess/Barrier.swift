#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Switchyard

/// A reusable barrier for a fixed number of threads that can be aborted: once aborted, every waiter (now and
/// later) throws, so one failing rank cannot leave the others blocked forever.
final class Barrier: @unchecked Sendable {
    private let parties: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var waiting = 0
    private var generation = 0
    private var abortReason: String?

    init(parties: Int) {
        self.parties = parties
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Blocks until all parties have arrived; throws ``PeerAbortedError`` if the group was aborted.
    func wait() throws {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if let reason = abortReason { throw PeerAbortedError(reason: reason) }
        let arrivedIn = generation
        waiting += 1
        if waiting == parties {
            waiting = 0
            generation += 1
            pthread_cond_broadcast(condition)
            return
        }
        while generation == arrivedIn, abortReason == nil { pthread_cond_wait(condition, mutex) }
        if generation == arrivedIn, let reason = abortReason { throw PeerAbortedError(reason: reason) }
    }

    /// Wakes every waiter with an error; the first reason given is kept.
    func abort(_ reason: String) {
        pthread_mutex_lock(mutex)
        if abortReason == nil { abortReason = reason }
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }
}

/// Thrown on the ranks that were waiting in a collective when another rank of the group failed.
public struct PeerAbortedError: Error, CustomStringConvertible, Sendable {
    public var reason: String
    public var description: String { "a peer rank failed, so this collective was abandoned: \(reason)" }
}
