#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(rank)` for every rank on its own POSIX thread and waits for all of them.
///
/// Real threads, not a work pool: ranks block on one another in collectives, so all of them must run at once
/// whatever the core count.
func runOnThreads(count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    final class Job: @unchecked Sendable {
        let body: @Sendable (Int) -> Void
        let rank: Int
        init(body: @escaping @Sendable (Int) -> Void, rank: Int) {
            self.body = body
            self.rank = rank
        }
    }
    var threads: [pthread_t] = []
    for rank in 0..<count {
        let job = Unmanaged.passRetained(Job(body: body, rank: rank)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { argument in
            let job = Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue()
            job.body(job.rank)
            return nil
        }, job)
        precondition(status == 0, "pthread_create failed with \(status)")
        threads.append(thread)
    }
    for thread in threads { pthread_join(thread, nil) }
}
