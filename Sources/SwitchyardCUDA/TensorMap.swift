import CSwitchyardCUDA
import Switchyard

/// A TMA descriptor (`CUtensorMap`, 128 bytes) for a 2-D row-major tile of global memory, passed to a kernel by
/// value as a `const __grid_constant__ CUtensorMap` parameter (see ``KernelArguments/append(_:)-TensorMap``).
///
/// ```swift
/// // A [tokens, hidden] bf16 matrix, read in 64 x 64 boxes with the 128-byte swizzle wgmma expects.
/// let map = try TensorMap.tiled2D(context: context, address: x.address, dtype: .bf16, rows: tokens,
///                                 columns: hidden, rowStrideBytes: hidden * 2, boxRows: 64, boxColumns: 64,
///                                 swizzle128B: true)
/// ```
public struct TensorMap: Sendable, Equatable {
    /// Element types a tensor map can describe.
    public enum ElementType: String, Sendable, CaseIterable {
        case bf16, fp8, fp32

        public var byteCount: Int {
            switch self {
            case .bf16: 2
            case .fp8: 1
            case .fp32: 4
            }
        }

        var driverValue: Int32 {
            switch self {
            case .bf16: Int32(SY_CU_TENSOR_MAP_DATA_TYPE_BFLOAT16)
            case .fp8: Int32(SY_CU_TENSOR_MAP_DATA_TYPE_UINT8)
            case .fp32: Int32(SY_CU_TENSOR_MAP_DATA_TYPE_FLOAT32)
            }
        }
    }

    /// The encoded descriptor, 16 words as the driver wrote them.
    public let words: [UInt64]

    /// Encodes a map over `rows` x `columns` elements starting at `address`, rows `rowStrideBytes` apart, copied in
    /// boxes of `boxRows` x `boxColumns`. Out-of-bounds reads fill zeros; the L2 promotion is 256 bytes.
    ///
    /// Throws a ``SwitchyardError`` when the shape breaks a TMA rule (the message names the rule), and a
    /// ``CUDAError`` when the driver rejects it.
    public static func tiled2D(context: CUDAContext, address: UInt64, dtype: ElementType, rows: Int, columns: Int,
                               rowStrideBytes: Int, boxRows: Int, boxColumns: Int,
                               swizzle128B: Bool) throws -> TensorMap {
        try validate(address: address, dtype: dtype, rows: rows, columns: columns, rowStrideBytes: rowStrideBytes,
                     boxRows: boxRows, boxColumns: boxColumns, swizzle128B: swizzle128B)
        try context.makeCurrent()
        let dimensions: [UInt64] = [UInt64(columns), UInt64(rows)]
        let strides: [UInt64] = [UInt64(rowStrideBytes)]
        let box: [UInt32] = [UInt32(boxColumns), UInt32(boxRows)]
        let elementStrides: [UInt32] = [1, 1]
        var words = [UInt64](repeating: 0, count: Int(SY_TENSOR_MAP_WORDS))
        let swizzle = Int32(swizzle128B ? SY_CU_TENSOR_MAP_SWIZZLE_128B : SY_CU_TENSOR_MAP_SWIZZLE_NONE)
        try check(sy_cuTensorMapEncodeTiled(&words, dtype.driverValue, 2, UnsafeMutableRawPointer(bitPattern: UInt(address)),
                                            dimensions, strides, box, elementStrides, 0, swizzle,
                                            Int32(SY_CU_TENSOR_MAP_L2_PROMOTION_L2_256B), 0),
                  "cuTensorMapEncodeTiled(\(dtype) \(rows)x\(columns), box \(boxRows)x\(boxColumns))")
        return TensorMap(words: words)
    }

    /// The rules of cuTensorMapEncodeTiled for a 2-D tiled map, checked here so that a bad shape gets a message
    /// that says which rule it broke rather than CUDA_ERROR_INVALID_VALUE.
    static func validate(address: UInt64, dtype: ElementType, rows: Int, columns: Int, rowStrideBytes: Int,
                         boxRows: Int, boxColumns: Int, swizzle128B: Bool) throws {
        func fail(_ rule: String) throws -> Never {
            throw SwitchyardError(.invalidConfiguration,
                                  "tensor map \(dtype) \(rows)x\(columns) (row stride \(rowStrideBytes) B, box "
                                      + "\(boxRows)x\(boxColumns)): \(rule)")
        }
        if address % 16 != 0 { try fail("the address must be 16-byte aligned") }
        if rows < 1 || columns < 1 { try fail("rows and columns must be >= 1") }
        if rows > 1 << 32 || columns > 1 << 32 { try fail("rows and columns must be <= 2^32") }
        if rowStrideBytes % 16 != 0 || rowStrideBytes >= 1 << 40 {
            try fail("the row stride must be a multiple of 16 bytes and < 2^40")
        }
        if rowStrideBytes < columns * dtype.byteCount { try fail("the row stride is shorter than a row") }
        if !(1...256).contains(boxRows) || !(1...256).contains(boxColumns) {
            try fail("box dimensions must be in 1...256")
        }
        if boxColumns * dtype.byteCount % 16 != 0 { try fail("a box row must be a multiple of 16 bytes") }
        if swizzle128B && boxColumns * dtype.byteCount > 128 {
            try fail("with the 128-byte swizzle a box row must be at most 128 bytes")
        }
    }
}
