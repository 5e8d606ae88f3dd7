import CSwitchyardCUDA
import Switchyard

/// One GPU and its primary context: the device's properties, memory, and synchronization.
///
/// Every method makes the context current on the calling thread first, so a context may be used from any
/// thread or task; work issued from several threads at once is the caller's to order.
///
/// ```swift
/// let context = try CUDAContext.open()
/// print(context.deviceName, context.architecture)   // NVIDIA H100 80GB HBM3 sm_90a
/// let buffer = try context.allocate(bytes: 4096)
/// ```
public final class CUDAContext: @unchecked Sendable {
    public let ordinal: Int
    public let deviceName: String
    public let computeCapability: (major: Int, minor: Int)
    public let multiprocessorCount: Int
    /// Device memory in bytes.
    public let totalMemory: Int
    public let l2CacheBytes: Int
    /// The most shared memory one block may use after opting in with ``CUDAFunction/setMaxDynamicSharedMemory(_:)``.
    public let maxSharedMemoryPerBlockOptin: Int

    let device: Int32
    let handle: OpaquePointer

    /// Retains the primary context of the GPU numbered `ordinal`.
    ///
    /// Throws a ``CUDAError`` that says why when there is no driver, no GPU, or no GPU with that number.
    public static func open(ordinal: Int = 0) throws -> CUDAContext {
        let count = try CUDADriver.deviceCount()
        guard count > 0 else {
            throw CUDAError(rawValue: CUDADriver.noDevice, name: "CUDA_ERROR_NO_DEVICE",
                            message: "the CUDA driver loaded but found no GPU", call: "cuDeviceGetCount")
        }
        guard (0..<count).contains(ordinal) else {
            throw SwitchyardError(.invalidConfiguration,
                                  "GPU ordinal \(ordinal) does not exist: this machine has GPUs 0..<\(count)")
        }
        return try CUDAContext(ordinal: ordinal)
    }

    /// The number of CUDA GPUs; 0 when the driver loads but sees none. Throws when there is no driver.
    public static func deviceCount() throws -> Int { try CUDADriver.deviceCount() }

    /// The CUDA version the driver supports, e.g. (13, 0). Throws when there is no driver.
    public static func driverVersion() throws -> (major: Int, minor: Int) { try CUDADriver.version() }

    private init(ordinal: Int) throws {
        var device: Int32 = 0
        try check(sy_cuDeviceGet(&device, Int32(ordinal)), "cuDeviceGet(\(ordinal))")
        var context: sy_CUcontext?
        try check(sy_cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain")
        guard let context else {
            throw CUDAError(rawValue: 0, name: "CUDA_ERROR_INVALID_CONTEXT",
                            message: "the driver returned no primary context", call: "cuDevicePrimaryCtxRetain")
        }
        self.ordinal = ordinal
        self.device = device
        self.handle = context
        func attribute(_ attribute: Int32, _ name: String) throws -> Int {
            var value: Int32 = 0
            try check(sy_cuDeviceGetAttribute(&value, attribute, device), "cuDeviceGetAttribute(\(name))")
            return Int(value)
        }
        var name = [CChar](repeating: 0, count: 256)
        try check(sy_cuDeviceGetName(&name, Int32(name.count), device), "cuDeviceGetName")
        deviceName = String(nulTerminated: name)
        var memory = 0
        try check(sy_cuDeviceTotalMem(&memory, device), "cuDeviceTotalMem")
        totalMemory = memory
        computeCapability = (
            try attribute(Int32(SY_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR), "compute capability major"),
            try attribute(Int32(SY_CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR), "compute capability minor"))
        multiprocessorCount = try attribute(Int32(SY_CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT), "SM count")
        l2CacheBytes = try attribute(Int32(SY_CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE), "L2 size")
        maxSharedMemoryPerBlockOptin = try attribute(
            Int32(SY_CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN), "shared memory opt-in")
    }

    deinit { _ = sy_cuDevicePrimaryCtxRelease(device) }

    /// The NVRTC target for this GPU: `sm_90a` for compute capability 9.0 and `sm_100a` for 10.0 (the
    /// architecture-specific targets that wgmma and tcgen05 need), else `sm_XY`.
    public var architecture: String { Self.architecture(major: computeCapability.major, minor: computeCapability.minor) }

    /// The NVRTC target for a compute capability; see ``architecture``.
    public static func architecture(major: Int, minor: Int) -> String {
        let base = "sm_\(major)\(minor)"
        return (major == 9 || major == 10) && minor == 0 ? base + "a" : base
    }

    /// Binds this context to the calling thread.
    public func makeCurrent() throws {
        try check(sy_cuCtxSetCurrent(handle), "cuCtxSetCurrent")
    }

    /// Allocates `bytes` of device memory (uninitialized; see ``DeviceBuffer/fill(byte:)``). Zero bytes gives an
    /// empty buffer with address 0, so callers need not special-case empty tensors.
    public func allocate(bytes: Int) throws -> DeviceBuffer {
        guard bytes >= 0 else {
            throw SwitchyardError(.invalidConfiguration, "cannot allocate \(bytes) bytes: the size must be >= 0")
        }
        try makeCurrent()
        var address: UInt64 = 0
        if bytes > 0 { try check(sy_cuMemAlloc(&address, bytes), "cuMemAlloc(\(bytes) bytes)") }
        return DeviceBuffer(context: self, address: address, byteCount: bytes)
    }

    /// Copies `destination.count` bytes from device address `source` (synchronous, on the default stream).
    public func copy(fromDevice source: UInt64, into destination: UnsafeMutableRawBufferPointer) throws {
        guard let target = destination.baseAddress, destination.count > 0 else { return }
        try makeCurrent()
        try check(sy_cuMemcpyDtoH(target, source, destination.count), "cuMemcpyDtoH(\(destination.count) bytes)")
    }

    /// Copies `source` to device address `destination` (synchronous, on the default stream).
    public func copy(toDevice destination: UInt64, from source: UnsafeRawBufferPointer) throws {
        guard let origin = source.baseAddress, source.count > 0 else { return }
        try makeCurrent()
        try check(sy_cuMemcpyHtoD(destination, origin, source.count), "cuMemcpyHtoD(\(source.count) bytes)")
    }

    /// Waits until all work issued to this GPU has finished; reports the first asynchronous error (e.g. a kernel
    /// that faulted).
    public func synchronize() throws {
        try makeCurrent()
        try check(sy_cuCtxSynchronize(), "cuCtxSynchronize")
    }

    /// Free and total device memory in bytes.
    public func memoryInfo() throws -> (free: Int, total: Int) {
        try makeCurrent()
        var free = 0
        var total = 0
        try check(sy_cuMemGetInfo(&free, &total), "cuMemGetInfo")
        return (free, total)
    }
}
