import Switchyard
import SwitchyardFormats

/// Elementwise reductions over host buffers, rank by rank in ascending order (so results are reproducible).
enum HostReduction {
    /// Reduces elements `offset ..< offset + count` of every buffer; returns the result's bytes.
    static func reduce(_ buffers: [TensorView], offset: Int, count: Int, dtype: DType, op: ReductionOperation) throws -> [UInt8] {
        switch dtype {
        case .float64: return reduce(buffers, Double.self, offset, count, op, floating(op))
        case .float32: return reduce(buffers, Float.self, offset, count, op, floating(op))
        case .int64: return reduce(buffers, Int64.self, offset, count, op, integer(op))
        case .int32: return reduce(buffers, Int32.self, offset, count, op, integer(op))
        case .uint8: return reduce(buffers, UInt8.self, offset, count, op, integer(op))
        case .bfloat16: return reduceBFloat16(buffers, offset, count, floating(op))
        case .float16, .float8E4M3, .float8E5M2, .float8E8M0:
            throw SwitchyardError(.unsupported, "in-process reductions over \(dtype.rawValue) are not supported")
        }
    }

    private static func floating<F: FloatingPoint>(_ op: ReductionOperation) -> (F, F) -> F {
        switch op {
        case .sum: { $0 + $1 }
        case .product: { $0 * $1 }
        case .max: { Swift.max($0, $1) }
        case .min: { Swift.min($0, $1) }
        }
    }

    private static func integer<I: FixedWidthInteger>(_ op: ReductionOperation) -> (I, I) -> I {
        switch op {
        case .sum: { $0 &+ $1 }
        case .product: { $0 &* $1 }
        case .max: { Swift.max($0, $1) }
        case .min: { Swift.min($0, $1) }
        }
    }

    private static func reduce<S: BitwiseCopyable>(
        _ buffers: [TensorView], _: S.Type, _ offset: Int, _ count: Int, _ op: ReductionOperation,
        _ combine: (S, S) -> S
    ) -> [UInt8] {
        var result = [UInt8](repeating: 0, count: count * MemoryLayout<S>.stride)
        result.withUnsafeMutableBytes { raw in
            let out = raw.bindMemory(to: S.self)
            for (r, buffer) in buffers.enumerated() {
                let values = UnsafePointer<S>(bitPattern: buffer.address)! + offset
                for i in 0..<count { out[i] = r == 0 ? values[i] : combine(out[i], values[i]) }
            }
        }
        return result
    }

    /// bf16 is reduced in fp32 and rounded once at the end.
    private static func reduceBFloat16(
        _ buffers: [TensorView], _ offset: Int, _ count: Int, _ combine: (Float, Float) -> Float
    ) -> [UInt8] {
        var sums = [Float](repeating: 0, count: count)
        for (r, buffer) in buffers.enumerated() {
            let values = UnsafePointer<UInt16>(bitPattern: buffer.address)! + offset
            for i in 0..<count {
                let value = BFloat16(bitPattern: values[i]).floatValue
                sums[i] = r == 0 ? value : combine(sums[i], value)
            }
        }
        var result = [UInt8](repeating: 0, count: count * 2)
        result.withUnsafeMutableBytes { raw in
            let out = raw.bindMemory(to: UInt16.self)
            for i in 0..<count { out[i] = BFloat16(sums[i]).bitPattern }
        }
        return result
    }
}
