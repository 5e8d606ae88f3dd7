/// A dense, row-major host tensor that owns its scalars.
///
/// The reference layer computes in `Float` or `Double`; the GPU backend and the bridges use
/// ``TensorView`` over caller-owned memory instead.
public struct Tensor<Scalar: BinaryFloatingPoint & Sendable>: Sendable, Equatable {
    public var shape: [Int]
    public var scalars: [Scalar]

    /// Wraps `scalars`; throws when their count does not match the shape.
    public init(shape: [Int], scalars: [Scalar]) throws {
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw SwitchyardError(.shapeMismatch, "tensor shape \(shape) has a negative extent")
        }
        let count = shape.reduce(1, *)
        guard count == scalars.count else {
            throw SwitchyardError(.shapeMismatch, "tensor shape \(shape) holds \(count) scalars, got \(scalars.count)")
        }
        self.shape = shape
        self.scalars = scalars
    }

    public init(zeros shape: [Int]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in \(shape)")
        self.shape = shape
        self.scalars = [Scalar](repeating: 0, count: shape.reduce(1, *))
    }

    /// Normal(0, scale²) entries from a seeded generator: the same seed gives the same tensor.
    public static func randomNormal(shape: [Int], scale: Double = 1, generator: inout SeededGenerator) -> Tensor {
        var tensor = Tensor(zeros: shape)
        for i in tensor.scalars.indices { tensor.scalars[i] = Scalar(generator.nextNormal() * scale) }
        return tensor
    }

    public var count: Int { scalars.count }

    /// Every scalar converted to another floating-point type.
    public func converted<Other: BinaryFloatingPoint & Sendable>(to: Other.Type = Other.self) -> Tensor<Other> {
        // Shape and count are unchanged, so this cannot throw.
        try! Tensor<Other>(shape: shape, scalars: scalars.map { Other($0) })
    }

    /// Throws ``SwitchyardError/Kind/nonFiniteInput`` naming `what` if any scalar is NaN or infinite.
    public func requireFinite(_ what: String) throws {
        if let i = scalars.firstIndex(where: { !$0.isFinite }) {
            throw SwitchyardError(.nonFiniteInput, "\(what) holds a non-finite value (\(scalars[i])) at flat index \(i)")
        }
    }

    /// Throws ``SwitchyardError/Kind/shapeMismatch`` unless the shape is `expected`.
    public func requireShape(_ expected: [Int], _ what: String) throws {
        guard shape == expected else {
            throw SwitchyardError(.shapeMismatch, "\(what) must have shape \(expected), got \(shape)")
        }
    }
}

public typealias HostTensor = Tensor<Float>

/// ‖a − b‖₂ / ‖b‖₂ in Double (0 when both are zero; infinity when b is zero and a is not, or on NaN).
public func relativeError<A, B>(_ a: [A], _ b: [B]) -> Double
where A: BinaryFloatingPoint, B: BinaryFloatingPoint {
    precondition(a.count == b.count, "relativeError: \(a.count) vs \(b.count) elements")
    var diff = 0.0
    var norm = 0.0
    for i in a.indices {
        let x = Double(a[i])
        let y = Double(b[i])
        guard x.isFinite, y.isFinite else { return .infinity }
        diff += (x - y) * (x - y)
        norm += y * y
    }
    if norm == 0 { return diff == 0 ? 0 : .infinity }
    return (diff / norm).squareRoot()
}
