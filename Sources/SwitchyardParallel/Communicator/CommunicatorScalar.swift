import Switchyard

/// A scalar type that collectives can move: its ``DType`` tells the transport how wide an element is.
public protocol CommunicatorScalar: BitwiseCopyable, Sendable {
    static var dtype: DType { get }
}

extension Float: CommunicatorScalar { public static var dtype: DType { .float32 } }
extension Double: CommunicatorScalar { public static var dtype: DType { .float64 } }
extension Int32: CommunicatorScalar { public static var dtype: DType { .int32 } }
extension Int64: CommunicatorScalar { public static var dtype: DType { .int64 } }
extension UInt8: CommunicatorScalar { public static var dtype: DType { .uint8 } }

/// Host-array forms of the collectives, for communicators whose buffers live on the CPU.
///
/// ```swift
/// let received = try comm.allToAllV(rows, sendCounts: counts, receiveCounts: try comm.exchangeCounts(counts))
/// ```
extension Communicator {
    /// Tells every peer how many elements this rank will send it; returns how many each peer will send here.
    public func exchangeCounts(_ sendCounts: [Int]) throws -> [Int] {
        let received = try allToAllV(
            sendCounts.map(Int64.init), sendCounts: [Int](repeating: 1, count: size),
            receiveCounts: [Int](repeating: 1, count: size))
        return received.map(Int.init)
    }

    /// ``allToAllV(send:sendCounts:receive:receiveCounts:)`` over host arrays.
    public func allToAllV<S: CommunicatorScalar>(_ send: [S], sendCounts: [Int], receiveCounts: [Int]) throws -> [S] {
        try requireHost("all-to-all-v")
        var receive = [S](unsafeUninitializedCapacity: receiveCounts.reduce(0, +)) { _, n in
            n = receiveCounts.reduce(0, +)
        }
        try send.withHostView { sendView in
            try receive.withMutableHostView { receiveView in
                try allToAllV(send: sendView, sendCounts: sendCounts, receive: receiveView, receiveCounts: receiveCounts)
            }
        }
        return receive
    }

    /// ``allGather(send:receive:count:)`` over host arrays: every rank's `send` (all of one length), in rank order.
    public func allGather<S: CommunicatorScalar>(_ send: [S]) throws -> [S] {
        try requireHost("all-gather")
        var receive = [S](unsafeUninitializedCapacity: send.count * size) { _, n in n = send.count * size }
        try send.withHostView { sendView in
            try receive.withMutableHostView { try allGather(send: sendView, receive: $0, count: send.count) }
        }
        return receive
    }

    /// ``reduceScatter(send:receive:count:op:)`` over host arrays; `send.count` must be a multiple of ``size``.
    public func reduceScatter<S: CommunicatorScalar>(_ send: [S], op: ReductionOperation) throws -> [S] {
        try requireHost("reduce-scatter")
        guard send.count % size == 0 else {
            throw SwitchyardError(
                .shapeMismatch, "reduce-scatter needs a multiple of \(size) elements (one block per rank), got \(send.count)")
        }
        let count = send.count / size
        var receive = [S](unsafeUninitializedCapacity: count) { _, n in n = count }
        try send.withHostView { sendView in
            try receive.withMutableHostView { try reduceScatter(send: sendView, receive: $0, count: count, op: op) }
        }
        return receive
    }

    /// ``allReduce(send:receive:count:op:)`` over host arrays.
    public func allReduce<S: CommunicatorScalar>(_ values: [S], op: ReductionOperation) throws -> [S] {
        try requireHost("all-reduce")
        var result = values
        try result.withMutableHostView { view in try allReduce(send: view, receive: view, count: values.count, op: op) }
        return result
    }

    private func requireHost(_ what: String) throws {
        guard device == .cpu else {
            throw SwitchyardError(.unsupported, "\(what) over host arrays needs a CPU communicator; this one runs on \(device)")
        }
    }
}

extension Array where Element: CommunicatorScalar {
    /// A host view of the array's storage, valid inside `body` only.
    func withHostView<R>(_ body: (TensorView) throws -> R) rethrows -> R {
        try withUnsafeBytes { bytes in
            try body(TensorView(address: UInt(bitPattern: bytes.baseAddress), shape: [count], dtype: Element.dtype, device: .cpu))
        }
    }

    /// A writable host view of the array's storage, valid inside `body` only.
    mutating func withMutableHostView<R>(_ body: (TensorView) throws -> R) rethrows -> R {
        let n = count
        return try withUnsafeMutableBytes { bytes in
            try body(TensorView(address: UInt(bitPattern: bytes.baseAddress), shape: [n], dtype: Element.dtype, device: .cpu))
        }
    }
}
