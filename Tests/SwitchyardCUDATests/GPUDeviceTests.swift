import Testing
import Switchyard
import SwitchyardCUDA

@Suite("CUDA driver on a GPU", .enabled(if: TestEnvironment.gpuPresent, TestEnvironment.gpuSkipReason))
struct GPUDeviceTests {
    @Test("the device reports sane properties and memory")
    func deviceProperties() throws {
        let context = try CUDAContext.open()
        #expect(!context.deviceName.isEmpty)
        #expect(context.computeCapability.major >= 7)
        #expect(context.multiprocessorCount > 0)
        #expect(context.l2CacheBytes > 0)
        #expect(context.maxSharedMemoryPerBlockOptin >= 48 * 1024)
        let memory = try context.memoryInfo()
        #expect(memory.total == context.totalMemory)
        #expect(memory.free > 0 && memory.free <= memory.total)
        #expect(throws: SwitchyardError.self) { try CUDAContext.open(ordinal: 1 << 20) }
    }

    @Test("upload, poison and download round trip; out-of-range copies are refused")
    func allocationRoundTrip() throws {
        let context = try CUDAContext.open()
        let values = (0..<1000).map { Float($0) * 0.25 - 17 }
        let buffer = try context.allocate(bytes: values.count * 4)
        try buffer.fill(byte: 0xFF)
        #expect(try buffer.download(UInt8.self, count: buffer.byteCount).allSatisfy { $0 == 0xFF })
        #expect(try buffer.download(Float.self, count: values.count).allSatisfy(\.isNaN))
        try buffer.upload(values)
        #expect(try buffer.download(Float.self, count: values.count) == values)
        try buffer.upload([Float(42)], byteOffset: 4 * 999)
        #expect(try buffer.download(Float.self, count: 1, byteOffset: 4 * 999) == [42])
        #expect(throws: SwitchyardError.self) { try buffer.upload(values + [1]) }
        #expect(throws: SwitchyardError.self) { try buffer.download(Float.self, count: 1, byteOffset: 4 * 1000) }
        let empty = try context.allocate(bytes: 0)
        #expect(empty.address == 0)
        #expect(try empty.download(Float.self, count: 0).isEmpty)
    }

    @Test("a kernel compiled with NVRTC launches on a stream, computes y = a*x + b, and events time it")
    func launchAndTime() throws {
        let context = try CUDAContext.open()
        let source = """
            extern "C" __global__ void affine(const float *x, float *y, float a, float b, int n) {
                int i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) y[i] = a * x[i] + b;
            }
            """
        let kernels = try NVRTCCompiler().compile(source: source, name: "affine.cu",
                                                  architecture: context.architecture)
        let module = try CUDAModule(context: context, cubin: kernels.cubin)
        let affine = try module.function(named: "affine")
        #expect(affine.registers > 0)
        #expect(affine.localBytes == 0)
        #expect(throws: CUDAError.self) { try module.function(named: "no_such_kernel") }

        let count = 10_000
        let x = (0..<count).map { Float($0 % 97) - 48.5 }
        let input = try context.allocate(bytes: count * 4)
        let output = try context.allocate(bytes: count * 4)
        try input.upload(x)
        try output.fill(byte: 0xFF)
        var arguments = KernelArguments()
        arguments.append(input)
        arguments.append(output)
        arguments.append(Float(3))
        arguments.append(Float(-0.5))
        arguments.append(Int32(count))

        let stream = try CUDAStream(context: context)
        let start = try CUDAEvent(context: context)
        let end = try CUDAEvent(context: context)
        try start.record(on: stream)
        try affine.launch(grid: ((count + 255) / 256, 1, 1), block: (256, 1, 1), stream: stream, arguments: arguments)
        try end.record(on: stream)
        try end.synchronize()
        try stream.synchronize()
        #expect(try end.elapsedMilliseconds(since: start) >= 0)
        #expect(try output.download(Float.self, count: count) == x.map { 3 * $0 - 0.5 })

        #expect(throws: SwitchyardError.self) {
            try affine.launch(grid: (0, 1, 1), block: (256, 1, 1), arguments: arguments)
        }
        #expect(throws: CUDAError.self) {
            try affine.launch(grid: (1, 1, 1), block: (4096, 1, 1), arguments: arguments)
        }
        try affine.setMaxDynamicSharedMemory(64 * 1024)
        #expect(throws: SwitchyardError.self) {
            try affine.setMaxDynamicSharedMemory(context.maxSharedMemoryPerBlockOptin + 1)
        }
        try context.synchronize()
    }

    @Test("a tensor map encodes for a bf16 tile with the 128-byte swizzle")
    func tensorMapEncodes() throws {
        let context = try CUDAContext.open()
        let matrix = try context.allocate(bytes: 256 * 512 * 2)
        let map = try TensorMap.tiled2D(context: context, address: matrix.address, dtype: .bf16, rows: 256,
                                        columns: 512, rowStrideBytes: 1024, boxRows: 64, boxColumns: 64,
                                        swizzle128B: true)
        #expect(map.words.count == 16)
        #expect(map.words.contains { $0 != 0 })
    }
}
