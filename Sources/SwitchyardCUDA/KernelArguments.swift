/// The parameters of one kernel launch, in the kernel's parameter order, each kept by value with its alignment.
///
/// ```swift
/// var arguments = KernelArguments()
/// arguments.append(input)          // a DeviceBuffer: its device address
/// arguments.append(tensorMap)      // a __grid_constant__ const CUtensorMap
/// arguments.append(Int32(tokens))
/// arguments.append(Float(0.5))
/// ```
public struct KernelArguments: Sendable {
    private var storage: [UInt8] = []
    /// Byte offset of each argument in `storage`.
    private var offsets: [Int] = []

    /// The strictest alignment any argument needs (a tensor map's).
    static let maximumAlignment = 128

    public init() {}

    /// The number of arguments appended so far.
    public var count: Int { offsets.count }

    public mutating func append(_ value: UInt64) { appendBytes(of: value) }
    public mutating func append(_ value: Int64) { appendBytes(of: value) }
    public mutating func append(_ value: UInt32) { appendBytes(of: value) }
    public mutating func append(_ value: Int32) { appendBytes(of: value) }
    public mutating func append(_ value: Float) { appendBytes(of: value) }
    /// A device pointer parameter (`T *`): the buffer's address.
    public mutating func append(_ buffer: DeviceBuffer) { appendBytes(of: buffer.address) }
    /// A `const __grid_constant__ CUtensorMap` parameter, passed by value (128 bytes).
    public mutating func append(_ map: TensorMap) {
        align(to: 64)
        offsets.append(storage.count)
        for word in map.words { withUnsafeBytes(of: word) { storage.append(contentsOf: $0) } }
    }

    private mutating func appendBytes<T: BitwiseCopyable>(of value: T) {
        align(to: MemoryLayout<T>.alignment)
        offsets.append(storage.count)
        withUnsafeBytes(of: value) { storage.append(contentsOf: $0) }
    }

    private mutating func align(to alignment: Int) {
        let padding = (alignment - storage.count % alignment) % alignment
        storage.append(contentsOf: repeatElement(0, count: padding))
    }

    /// Calls `body` with the `void **` array cuLaunchKernel takes, pointing into an aligned copy of the arguments.
    func withParameterPointers<R>(_ body: (UnsafeMutablePointer<UnsafeMutableRawPointer?>?) throws -> R) rethrows -> R {
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: max(storage.count, 1),
                                                     alignment: Self.maximumAlignment)
        defer { bytes.deallocate() }
        storage.withUnsafeBytes { raw in
            if let base = raw.baseAddress { bytes.copyMemory(from: base, byteCount: raw.count) }
        }
        var pointers: [UnsafeMutableRawPointer?] = offsets.map { bytes + $0 }
        return try pointers.withUnsafeMutableBufferPointer { try body($0.baseAddress) }
    }
}
