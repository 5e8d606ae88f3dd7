import Testing
import Switchyard
@testable import SwitchyardCUDA

@Suite("launch preparation without a GPU")
struct LaunchPreparationTests {
    @Test("kernel arguments are laid out with their alignment and read back through the parameter pointers")
    func argumentLayout() {
        var arguments = KernelArguments()
        arguments.append(Int32(-7))
        arguments.append(UInt64(0x1122_3344_5566_7788))
        arguments.append(Float(1.5))
        let map = TensorMap(words: (0..<16).map { UInt64($0) * 0x0101_0101 })
        arguments.append(map)
        arguments.append(UInt32(9))
        #expect(arguments.count == 5)
        arguments.withParameterPointers { parameters in
            guard let parameters else { Issue.record("no parameter array"); return }
            #expect(parameters[0]!.load(as: Int32.self) == -7)
            #expect(Int(bitPattern: parameters[1]!) % 8 == 0)
            #expect(parameters[1]!.load(as: UInt64.self) == 0x1122_3344_5566_7788)
            #expect(parameters[2]!.load(as: Float.self) == 1.5)
            #expect(Int(bitPattern: parameters[3]!) % 64 == 0)
            #expect((0..<16).map { parameters[3]!.load(fromByteOffset: $0 * 8, as: UInt64.self) } == map.words)
            #expect(parameters[4]!.load(as: UInt32.self) == 9)
        }
    }

    @Test("grouped GEMM shared memory within Hopper's 227 KiB, as the kernel's launch contract states")
    func groupedGemmSharedMemory() throws {
        // One-role: 5 stages of 32 KiB (BN 128) or 4 of 48 KiB (BN 256). Warp-specialized: the ring plus two staging
        // buffers; the multicast kernel adds 1104 bytes of static shared memory (barriers, pair offsets).
        #expect(GPUKernels.gemmSharedMemoryBytes(width: 128) == 5 * 32768 + 1024)
        #expect(GPUKernels.gemmSharedMemoryBytes(width: 256) == 4 * 49152 + 1024)
        #expect(GPUKernels.warpSpecializedSharedMemoryBytes == 4 * 49152 + 2 * 16384 + 1024)
        for bytes in [GPUKernels.gemmSharedMemoryBytes(width: 128), GPUKernels.gemmSharedMemoryBytes(width: 256),
                      GPUKernels.warpSpecializedSharedMemoryBytes + 1104] {
            #expect(bytes <= 232_448)
        }
        let source = try #require(KernelSources.all.first { $0.name == "moe_grouped_gemm.cu" }?.source)
        #expect(source.contains("\(GPUKernels.gemmSharedMemoryBytes(width: 128)) B for BN 128, "
                                + "\(GPUKernels.gemmSharedMemoryBytes(width: 256)) B for BN 256"))
        #expect(source.contains("WsShape<false>::smem == \(GPUKernels.warpSpecializedSharedMemoryBytes)"))
    }

    @Test("the bf16 GEMM choice: warp-specialized kernels only where their tiles and TMA boxes fit")
    func bf16KernelChoice() {
        typealias C = BF16GEMMChoice
        // The MOE.md shapes: d = 4096 / 1536 (n % 256 == 0), E ≤ 256.
        #expect(C.automatic.kernel(n: 4096, k: 256, groups: 256, tmaWeights: true) == .cooperativeMulticastStoreTMAA)
        #expect(C.automatic.kernel(n: 1536, k: 512, groups: 128, tmaWeights: true) == .cooperativeMulticastStoreTMAA)
        #expect(C.multicastStores.kernel(n: 1536, k: 512, groups: 128, tmaWeights: true) == .cooperativeMulticastStore)
        #expect(C.multicast.kernel(n: 1536, k: 512, groups: 128, tmaWeights: true) == .cooperativeMulticast)
        // More groups than the multicast kernel's shared pair offsets hold.
        #expect(C.automatic.kernel(n: 4096, k: 256, groups: 512, tmaWeights: true) == .cooperative)
        // n % 256 != 0: ping-pong only for short reductions.
        #expect(C.automatic.kernel(n: 384, k: 256, groups: 8, tmaWeights: true) == .pingPong)
        #expect(C.automatic.kernel(n: 384, k: 512, groups: 8, tmaWeights: true) == .oneRole)
        // No TMA box fits (n % 128 != 0), TMA off, or a reduction the 64-deep stages do not divide.
        #expect(C.automatic.kernel(n: 64, k: 256, groups: 8, tmaWeights: true) == .oneRole)
        #expect(C.automatic.kernel(n: 4096, k: 256, groups: 8, tmaWeights: false) == .oneRole)
        #expect(C.multicast.kernel(n: 4096, k: 96, groups: 8, tmaWeights: true) == .oneRole)
        // Forced choices fall back where they do not apply.
        #expect(C.oneRole.kernel(n: 4096, k: 256, groups: 8, tmaWeights: true) == .oneRole)
        #expect(C.pingPong.kernel(n: 4096, k: 2048, groups: 8, tmaWeights: true) == .pingPong)
        #expect(C.cooperative.kernel(n: 4096, k: 256, groups: 8, tmaWeights: true) == .cooperative)
        #expect(C.cooperative.kernel(n: 384, k: 2048, groups: 8, tmaWeights: true) == .pingPong)
        #expect(C.multicast.kernel(n: 384, k: 2048, groups: 8, tmaWeights: true) == .pingPong)
        // A by TMA only for launches that allow it (the layer's own buffers, affine gathers).
        #expect(C.Kernel.cooperativeMulticastStoreTMAA.loadingA(byTMA: false) == .cooperativeMulticastStore)
        #expect(C.Kernel.cooperativeMulticastStoreTMAA.loadingA(byTMA: true) == .cooperativeMulticastStoreTMAA)
        #expect(C.Kernel.pingPong.loadingA(byTMA: false) == .pingPong)
        // A by cp.async (v9.2): as the default elsewhere.
        #expect(C.multicastStores.kernel(n: 4096, k: 256, groups: 512, tmaWeights: true) == .cooperative)
        #expect(C.multicastStores.kernel(n: 384, k: 512, groups: 8, tmaWeights: true) == .oneRole)
        #expect(C.multicastStores.kernel(n: 384, k: 256, groups: 8, tmaWeights: true) == .pingPong)
        #expect(C(rawValue: "mc") == .multicast && C(rawValue: "") == .automatic && C(rawValue: "x") == nil)
        #expect(C(rawValue: "mcts") == .multicastStores && C(rawValue: "tmaa") == nil)
    }

    @Test("persistent grids: whole clusters, capped at the clusters the driver says can be resident")
    func persistentGrid() {
        typealias G = GPUKernels.GroupedGEMM
        #expect(G.grid(blocks: 132, clusterSize: 1, maxClusters: nil) == 132)
        #expect(G.grid(blocks: 132, clusterSize: 2, maxClusters: nil) == 132)
        #expect(G.grid(blocks: 133, clusterSize: 2, maxClusters: nil) == 132)
        // Clusters stay inside a GPC: fewer may fit than SMs / 2, and the grid follows.
        #expect(G.grid(blocks: 132, clusterSize: 2, maxClusters: 62) == 124)
        #expect(G.grid(blocks: 132, clusterSize: 2, maxClusters: 80) == 132)
        // Unknown (0) or a single SM: still one cluster.
        #expect(G.grid(blocks: 132, clusterSize: 2, maxClusters: 0) == 132)
        #expect(G.grid(blocks: 1, clusterSize: 2, maxClusters: nil) == 2)
    }

    @Test("architecture names: sm_90a for Hopper, sm_100a for Blackwell, plain otherwise")
    func architectureNames() {
        #expect(CUDAContext.architecture(major: 9, minor: 0) == "sm_90a")
        #expect(CUDAContext.architecture(major: 10, minor: 0) == "sm_100a")
        #expect(CUDAContext.architecture(major: 8, minor: 9) == "sm_89")
        #expect(CUDAContext.architecture(major: 12, minor: 0) == "sm_120")
    }

    @Test("tensor map shapes that break a TMA rule are refused with the rule", arguments: [
        (address: UInt64(8), rows: 64, columns: 64, stride: 128, boxRows: 64, boxColumns: 64, rule: "16-byte aligned"),
        (address: 0, rows: 0, columns: 64, stride: 128, boxRows: 64, boxColumns: 64, rule: ">= 1"),
        (address: 0, rows: 64, columns: 64, stride: 136, boxRows: 64, boxColumns: 64, rule: "multiple of 16"),
        (address: 0, rows: 64, columns: 64, stride: 64, boxRows: 64, boxColumns: 64, rule: "shorter than a row"),
        (address: 0, rows: 64, columns: 64, stride: 128, boxRows: 512, boxColumns: 64, rule: "1...256"),
        (address: 0, rows: 64, columns: 64, stride: 128, boxRows: 64, boxColumns: 4, rule: "multiple of 16 bytes"),
        (address: 0, rows: 64, columns: 256, stride: 512, boxRows: 64, boxColumns: 128, rule: "at most 128 bytes"),
    ])
    func tensorMapRules(address: UInt64, rows: Int, columns: Int, stride: Int, boxRows: Int, boxColumns: Int,
                        rule: String) throws {
        let error = try #require(throws: SwitchyardError.self) {
            try TensorMap.validate(address: address, dtype: .bf16, rows: rows, columns: columns, rowStrideBytes: stride,
                                   boxRows: boxRows, boxColumns: boxColumns, swizzle128B: true)
        }
        #expect(error.message.contains(rule))
    }

    @Test("a valid bf16 tile passes the tensor map rules")
    func tensorMapValid() throws {
        try TensorMap.validate(address: 1 << 20, dtype: .bf16, rows: 4096, columns: 7168, rowStrideBytes: 7168 * 2,
                               boxRows: 128, boxColumns: 64, swizzle128B: true)
        try TensorMap.validate(address: 1 << 20, dtype: .fp8, rows: 3, columns: 16, rowStrideBytes: 16,
                               boxRows: 3, boxColumns: 16, swizzle128B: false)
    }
}
