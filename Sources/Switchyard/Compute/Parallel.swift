import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` over `0..<count` split into contiguous chunks, on up to `threads` threads.
///
/// Chunks never share an element, so the result is the same for every thread count as long as `body`
/// treats each element independently.
@usableFromInline
func parallelChunks(_ count: Int, threads: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let chunks = min(max(threads, 1) * 4, (count + max(grain, 1) - 1) / max(grain, 1))
    if threads <= 1 || chunks <= 1 {
        body(0..<count)
        return
    }
    parallelWorkers(chunks) { chunk in
        let start = count * chunk / chunks
        let end = count * (chunk + 1) / chunks
        if start < end { body(start..<end) }
    }
}

/// Runs `body(worker)` for worker = 0..<workers concurrently (sequentially when `workers` is 1).
@usableFromInline
func parallelWorkers(_ workers: Int, _ body: (Int) -> Void) {
    if workers <= 1 {
        body(0)
        return
    }
    // The callers hand each worker disjoint memory, so running `body` concurrently is safe even though
    // it captures raw pointers; the box only carries it across the `@Sendable` boundary.
    withoutActuallyEscaping(body) { body in
        let box = UncheckedSendable(body)
        DispatchQueue.concurrentPerform(iterations: workers) { box.value($0) }
    }
}

/// Carries a value the caller has made safe to share across the `@Sendable` boundary of a parallel loop.
@usableFromInline
struct UncheckedSendable<Value>: @unchecked Sendable {
    @usableFromInline let value: Value
    @usableFromInline init(_ value: Value) { self.value = value }
}

/// The number of threads to use when the caller does not say: every active core.
@usableFromInline
var defaultThreadCount: Int {
    #if canImport(Glibc)
    return max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    #else
    return 1
    #endif
}
