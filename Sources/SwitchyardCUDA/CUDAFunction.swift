import CSwitchyardCUDA
import Switchyard

/// A kernel in a loaded ``CUDAModule``, with the resources the compiler gave it, ready to launch.
///
/// ```swift
/// var arguments = KernelArguments()
/// arguments.append(buffer)
/// arguments.append(Int32(count))
/// try function.launch(grid: ((count + 255) / 256, 1, 1), block: (256, 1, 1), arguments: arguments)
/// ```
public struct CUDAFunction: @unchecked Sendable {
    public let module: CUDAModule
    public let name: String
    /// Registers per thread.
    public let registers: Int
    /// Local memory per thread in bytes (spills and stack); 0 in a healthy kernel.
    public let localBytes: Int
    /// Static shared memory per block in bytes.
    public let staticSharedBytes: Int
    /// The most threads per block this kernel can be launched with.
    public let maxThreadsPerBlock: Int
    let handle: OpaquePointer

    init(module: CUDAModule, name: String, handle: OpaquePointer) throws {
        func attribute(_ attribute: Int32, _ what: String) throws -> Int {
            var value: Int32 = 0
            try check(sy_cuFuncGetAttribute(&value, attribute, handle), "cuFuncGetAttribute(\(name), \(what))")
            return Int(value)
        }
        self.module = module
        self.name = name
        self.handle = handle
        registers = try attribute(Int32(SY_CU_FUNC_ATTRIBUTE_NUM_REGS), "registers")
        localBytes = try attribute(Int32(SY_CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES), "local bytes")
        staticSharedBytes = try attribute(Int32(SY_CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES), "shared bytes")
        maxThreadsPerBlock = try attribute(Int32(SY_CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK), "max threads")
    }

    /// Allows launches with up to `bytes` of dynamic shared memory (above 48 KiB this opt-in is required), at most
    /// ``CUDAContext/maxSharedMemoryPerBlockOptin`` less the static shared memory.
    public func setMaxDynamicSharedMemory(_ bytes: Int) throws {
        let context = module.context
        let limit = context.maxSharedMemoryPerBlockOptin - staticSharedBytes
        guard (0...limit).contains(bytes) else {
            throw SwitchyardError(.invalidConfiguration,
                                  "\(name): \(bytes) bytes of dynamic shared memory requested; this GPU allows "
                                      + "0...\(limit) (opt-in limit \(context.maxSharedMemoryPerBlockOptin) less "
                                      + "\(staticSharedBytes) static)")
        }
        try context.makeCurrent()
        try check(sy_cuFuncSetAttribute(handle, Int32(SY_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES), Int32(bytes)),
                  "cuFuncSetAttribute(\(name), max dynamic shared memory = \(bytes))")
    }

    /// How many clusters of this kernel (its cluster shape compiled in, `clusterSize` blocks along x) can be resident
    /// at once with `threads` per block and `sharedMemoryBytes` of dynamic shared memory: a persistent kernel's grid
    /// should not exceed it, or the clusters past it wait for a whole round. Clusters must fit inside one GPC, so this
    /// can be below SMs / clusterSize. nil where the driver cannot tell (no cuOccupancyMaxActiveClusters).
    public func maxActiveClusters(clusterSize: Int, threads: Int, sharedMemoryBytes: Int) throws -> Int? {
        let context = module.context
        try context.makeCurrent()
        let grid = max(clusterSize, context.multiprocessorCount / clusterSize * clusterSize)
        var clusters: Int32 = 0
        let status = sy_cuOccupancyMaxActiveClusters(&clusters, handle, UInt32(grid), UInt32(threads),
                                                     UInt32(sharedMemoryBytes))
        if status == SY_ERROR_NOT_LOADED { return nil }
        try check(status, "cuOccupancyMaxActiveClusters(\(name), \(threads) threads, \(sharedMemoryBytes) B shared)")
        return Int(clusters)
    }

    /// Launches the kernel and checks that the launch was accepted. Faults inside the kernel surface later, at the
    /// next synchronization.
    ///
    /// Every grid and block dimension must be at least 1 (skip the launch when there is no work).
    public func launch(grid: (Int, Int, Int), block: (Int, Int, Int), sharedMemoryBytes: Int = 0,
                       stream: CUDAStream? = nil, arguments: KernelArguments) throws {
        let dimensions = [grid.0, grid.1, grid.2, block.0, block.1, block.2]
        guard dimensions.allSatisfy({ $0 >= 1 && $0 <= Int(Int32.max) }), sharedMemoryBytes >= 0 else {
            throw SwitchyardError(.invalidConfiguration,
                                  "\(name): cannot launch grid \(grid) block \(block) with \(sharedMemoryBytes) "
                                      + "bytes of shared memory: every dimension must be >= 1 and the shared memory "
                                      + ">= 0")
        }
        try module.context.makeCurrent()
        try arguments.withParameterPointers { parameters in
            try check(sy_cuLaunchKernel(handle, UInt32(grid.0), UInt32(grid.1), UInt32(grid.2),
                                        UInt32(block.0), UInt32(block.1), UInt32(block.2),
                                        UInt32(sharedMemoryBytes), stream?.handle, parameters, nil),
                      "cuLaunchKernel(\(name), grid \(grid), block \(block), \(sharedMemoryBytes) B shared)")
        }
    }
}
