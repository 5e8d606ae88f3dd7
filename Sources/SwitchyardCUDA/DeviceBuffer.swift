import CSwitchyardCUDA
import Switchyard

/// Device memory owned by Swift: allocated by ``CUDAContext/allocate(bytes:)`` and freed when the last
/// reference goes away. Copies are synchronous (they wait for earlier work on the default stream).
///
/// ```swift
/// let buffer = try context.allocate(bytes: 4 * 1024)
/// try buffer.fill(byte: 0xFF)                 // poison: every fp32 and bf16 reads as NaN
/// try buffer.upload([Float](repeating: 1, count: 1024))
/// let values = try buffer.download(Float.self, count: 1024)
/// ```
public final class DeviceBuffer: @unchecked Sendable {
    /// The device address, as kernels take it; 0 for an empty buffer.
    public let address: UInt64
    public let byteCount: Int
    /// Kept so that the context outlives its memory.
    public let context: CUDAContext

    init(context: CUDAContext, address: UInt64, byteCount: Int) {
        self.context = context
        self.address = address
        self.byteCount = byteCount
    }

    deinit {
        guard address != 0 else { return }
        _ = sy_cuCtxSetCurrent(context.handle)
        _ = sy_cuMemFree(address)
    }

    /// Copies `values` to the start of the buffer (or at `byteOffset`).
    public func upload<T: BitwiseCopyable>(_ values: [T], byteOffset: Int = 0) throws {
        try values.withUnsafeBytes { try upload(bytes: $0, byteOffset: byteOffset) }
    }

    /// Copies raw bytes to the buffer at `byteOffset`.
    public func upload(bytes: UnsafeRawBufferPointer, byteOffset: Int = 0) throws {
        try checkRange(byteOffset: byteOffset, count: bytes.count, what: "upload")
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        try context.makeCurrent()
        try check(sy_cuMemcpyHtoD(address + UInt64(byteOffset), source, bytes.count),
                  "cuMemcpyHtoD(\(bytes.count) bytes)")
    }

    /// Copies `count` values of type `T` from the start of the buffer (or from `byteOffset`).
    public func download<T: BitwiseCopyable>(_ type: T.Type, count: Int, byteOffset: Int = 0) throws -> [T] {
        guard count >= 0 else {
            throw SwitchyardError(.invalidConfiguration, "cannot download \(count) values: the count must be >= 0")
        }
        return try [T](unsafeUninitializedCapacity: count) { storage, initialized in
            try download(into: UnsafeMutableRawBufferPointer(storage), byteOffset: byteOffset)
            initialized = count
        }
    }

    /// Copies bytes from the buffer at `byteOffset` into `destination`, filling it.
    public func download(into destination: UnsafeMutableRawBufferPointer, byteOffset: Int = 0) throws {
        try checkRange(byteOffset: byteOffset, count: destination.count, what: "download")
        guard let target = destination.baseAddress, destination.count > 0 else { return }
        try context.makeCurrent()
        try check(sy_cuMemcpyDtoH(target, address + UInt64(byteOffset), destination.count),
                  "cuMemcpyDtoH(\(destination.count) bytes)")
    }

    /// Sets every byte of the buffer to `byte`. 0xFF poisons: all-ones bf16, fp32 and fp8 E4M3 read as NaN, so a
    /// kernel that skips an element it should write shows up in the checks.
    public func fill(byte: UInt8) throws {
        guard byteCount > 0 else { return }
        try context.makeCurrent()
        try check(sy_cuMemsetD8(address, byte, byteCount), "cuMemsetD8(\(byteCount) bytes)")
    }

    private func checkRange(byteOffset: Int, count: Int, what: String) throws {
        guard byteOffset >= 0, count >= 0, byteOffset <= byteCount, count <= byteCount - byteOffset else {
            throw SwitchyardError(.shapeMismatch,
                                  "cannot \(what) \(count) bytes at offset \(byteOffset): the buffer holds "
                                      + "\(byteCount) bytes")
        }
    }
}
