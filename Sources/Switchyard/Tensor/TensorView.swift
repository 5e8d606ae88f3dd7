/// Element types a ``TensorView`` can describe.
public enum DType: String, Sendable, Hashable, Codable, CaseIterable {
    case float64, float32, bfloat16, float16, float8E4M3, float8E5M2, float8E8M0, int64, int32, uint8

    public var byteSize: Int {
        switch self {
        case .float64, .int64: 8
        case .float32, .int32: 4
        case .bfloat16, .float16: 2
        case .float8E4M3, .float8E5M2, .float8E8M0, .uint8: 1
        }
    }
}

/// Where a tensor's storage lives.
public enum DeviceKind: String, Sendable, Hashable, Codable, CaseIterable {
    case cpu, cuda
}

/// A non-owning description of caller-owned memory: address, shape, strides (in elements) and type.
///
/// Engines read and write through views, so a bridge (C ABI, PyTorch) hands over tensors without copies.
/// The caller keeps the memory alive for the duration of the call.
public struct TensorView: @unchecked Sendable {
    /// Host address, or a device address (CUdeviceptr) when `device == .cuda`.
    public var address: UInt
    public var shape: [Int]
    public var strides: [Int]
    public var dtype: DType
    public var device: DeviceKind

    public init(address: UInt, shape: [Int], strides: [Int]? = nil, dtype: DType, device: DeviceKind) {
        self.address = address
        self.shape = shape
        self.strides = strides ?? TensorView.contiguousStrides(shape)
        self.dtype = dtype
        self.device = device
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in shape.indices.reversed() {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    public var isContiguous: Bool { strides == TensorView.contiguousStrides(shape) }
    public var count: Int { shape.reduce(1, *) }

    /// Throws unless the view has `shape`, `dtype`, lives on `device` and is contiguous.
    public func require(shape expected: [Int], dtype: DType, device: DeviceKind, _ what: String) throws {
        guard shape == expected else {
            throw SwitchyardError(.shapeMismatch, "\(what) must have shape \(expected), got \(shape)")
        }
        guard self.dtype == dtype else {
            throw SwitchyardError(.unsupported, "\(what) must be \(dtype.rawValue), got \(self.dtype.rawValue)")
        }
        guard self.device == device else {
            throw SwitchyardError(.unsupported, "\(what) must live on \(device.rawValue), got \(self.device.rawValue)")
        }
        guard isContiguous else {
            throw SwitchyardError(.unsupported, "\(what) must be contiguous (strides \(strides) for shape \(shape))")
        }
    }
}
