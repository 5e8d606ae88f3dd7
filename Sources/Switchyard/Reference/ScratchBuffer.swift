import SwitchyardFormats

/// Owned, uninitialized-then-filled scalar storage for the reference layer's intermediates; freed in `deinit`.
///
/// Intermediates live here rather than in arrays so that parallel loops and the GEMM can write through
/// stable pointers without copy-on-write checks.
@usableFromInline
final class ScratchBuffer<S: BinaryFloatingPoint & Sendable>: @unchecked Sendable {
    @usableFromInline let pointer: UnsafeMutablePointer<S>
    @usableFromInline let count: Int

    /// Zero-filled storage for `count` scalars; the pages are first touched by `threads` threads.
    @usableFromInline
    init(count: Int, threads: Int = 1) {
        self.count = count
        let p = UnsafeMutablePointer<S>.allocateAligned(count)
        pointer = p
        p.initialize(to: 0)
        parallelChunks(count, threads: threads, grain: 1 << 16) { range in
            (p + range.lowerBound).initialize(repeating: 0, count: range.count)
        }
    }

    deinit { pointer.deallocate() }

    /// A copy as a tensor of `shape`.
    @usableFromInline
    func tensor(_ shape: [Int]) -> Tensor<S> {
        precondition(shape.reduce(1, *) == count, "shape \(shape) does not hold \(count) scalars")
        return try! Tensor(shape: shape, scalars: Array(UnsafeBufferPointer(start: pointer, count: count)))
    }

    /// Rounds every scalar to bf16 when `storage` says so (what a GPU storing bf16 would keep).
    @usableFromInline
    func store(_ storage: StoragePrecision, threads: Int) {
        guard storage == .bfloat16 else { return }
        let p = pointer
        parallelChunks(count, threads: threads, grain: 1 << 14) { range in
            for i in range { p[i] = S(roundedToBFloat16(Float(p[i]))) }
        }
    }
}

/// A tensor's base address for the duration of `body`; empty tensors get a non-null address that is never read.
@inline(__always) @usableFromInline
func address<S>(_ buffer: UnsafeBufferPointer<S>) -> UnsafePointer<S> {
    buffer.baseAddress ?? UnsafePointer(bitPattern: 64)!
}

/// Base addresses of the layer input and every weight, valid inside `withLayerPointers`.
@usableFromInline
struct LayerPointers<S>: @unchecked Sendable {
    @usableFromInline var x: UnsafePointer<S>
    @usableFromInline var router: UnsafePointer<S>
    @usableFromInline var w1: UnsafePointer<S>
    @usableFromInline var w2: UnsafePointer<S>
    @usableFromInline var sharedW1: UnsafePointer<S>
    @usableFromInline var sharedW2: UnsafePointer<S>
}

@usableFromInline
func withLayerPointers<S, R>(
    _ x: Tensor<S>, _ weights: MoEWeights<S>, _ body: (LayerPointers<S>) throws -> R
) rethrows -> R {
    try x.scalars.withUnsafeBufferPointer { x in
        try weights.router.scalars.withUnsafeBufferPointer { router in
            try weights.w1.scalars.withUnsafeBufferPointer { w1 in
                try weights.w2.scalars.withUnsafeBufferPointer { w2 in
                    try weights.sharedW1.scalars.withUnsafeBufferPointer { sharedW1 in
                        try weights.sharedW2.scalars.withUnsafeBufferPointer { sharedW2 in
                            try body(
                                LayerPointers(
                                    x: address(x), router: address(router), w1: address(w1), w2: address(w2),
                                    sharedW1: address(sharedW1), sharedW2: address(sharedW2)))
                        }
                    }
                }
            }
        }
    }
}
