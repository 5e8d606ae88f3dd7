import Foundation
import Switchyard
/// The MoE kernels of one CUDA context, compiled by NVRTC (through the on-disk cache) and loaded.
///
/// Compilation happens once per source/options/architecture/NVRTC version; every size is a run-time argument,
/// so no token count, expert count or width ever triggers a new compile.
public final class GPUKernels: @unchecked Sendable {
    public let context: CUDAContext
    let gemmUpSwiGLU: TileWidths
    let gemmBF16: TileWidths
    let gemmF32: CUDAFunction
    let routerTopK: CUDAFunction
    let routeCount: CUDAFunction
    let routeScan: CUDAFunction
    let routeOffsets: CUDAFunction
    let routeScatter: CUDAFunction
    let singleGroup: CUDAFunction
    let combine: CUDAFunction
    /// sy_combine with a bf16 extra term (the single-device backward's router dX).
    let combineBF16Extra: CUDAFunction
    let packRows: CUDAFunction
    let bf16ToFloat: CUDAFunction
    let fillRandomBF16: CUDAFunction
    let gemmDSwiGLU: TileWidths
    /// The three kernels above with the weight operand loaded by TMA (`_tma`), see ``groupedGEMM(_:_:width:weights:groups:n:k:)``.
    let gemmUpSwiGLUTMA: TileWidths
    let gemmBF16TMA: TileWidths
    let gemmDSwiGLUTMA: TileWidths
    /// The weight-gradient GEMM with the operands that are not gathered loaded by TMA.
    let weightGradTMA: TileWidths
    /// The two weight-gradient GEMMs above writing bf16 results (``WeightGradientPrecision/bfloat16``).
    let weightGradBF16: TileWidths
    let weightGradTMABF16: TileWidths
    /// Whether the grouped GEMMs load their weight operand by TMA, and ``tmaWeightGradients`` whether the
    /// weight-gradient GEMMs load the operands they do not gather so (both the default). For A/B runs,
    /// `SWITCHYARD_TMA=0` in the environment keeps every operand on cp.async, `SWITCHYARD_TMA=grouped` uses TMA in
    /// the grouped GEMMs only.
    public let tmaWeights: Bool
    let tmaWeightGradients: Bool
    /// The warp-specialized bf16 GEMMs (384 threads, B by TMA) for the down-projection and the dX rows:
    /// ping-pong (128 × 128 tiles) and cooperative (128 × 256); see ``bf16GEMM(weights:groups:n:k:)``.
    let gemmBF16PingPong: CUDAFunction
    let gemmBF16Cooperative: CUDAFunction
    /// The cooperative kernel in clusters of two CTAs that multicast B (`sy_gemm_bf16_coop_mc`).
    let gemmBF16CooperativeMC: CUDAFunction
    /// The multicast kernel with its epilogue stored by TMA (`sy_gemm_bf16_coop_mc_ts`; takes C's map too).
    let gemmBF16CooperativeMCStore: CUDAFunction
    /// The same with A by TMA as well (`sy_gemm_bf16_coop_mc_ts_ta`; takes A's map after C's), and that kernel with
    /// the overlapped epilogue (`sy_gemm_bf16_coop_mc_ts_ta_ov`: each finished tile is rounded to bf16 registers and
    /// stored in two passes a quarter and three quarters into the next tile's k-loop), the one launched unless
    /// `SWITCHYARD_BF16_EPILOGUE=serial` is set (``overlappedEpilogue``).
    let gemmBF16CooperativeMCStoreTMAA: CUDAFunction
    let gemmBF16CooperativeMCStoreTMAAOverlap: CUDAFunction
    /// The multicast kernel with TMA stores whose A is SwiGLU(H), computed by its producer warps as they load H
    /// one k-step ahead (`sy_gemm_bf16_coop_mc_ts_ah`): the down-projection of a workspace that keeps no A
    /// (``GPUWorkspace/keepsActivation``).
    let gemmBF16CooperativeMCStoreAH: CUDAFunction
    let overlappedEpilogue: Bool
    /// At most this many blocks in the persistent grids of the layer's grouped GEMMs (up- and down-projection, dH,
    /// dX rows) and of the weight-gradient GEMMs; nil: one per SM. `switchyard check` caps it in some cases, so that
    /// every block runs several tiles (the paths that carry work from one tile to the next, such as the overlapped
    /// epilogue, see them).
    public var persistentGridLimit: Int?
    /// The persistent grid's size before rounding to clusters: the SM count, or ``persistentGridLimit`` if lower.
    var persistentBlocks: Int { min(context.multiprocessorCount, max(persistentGridLimit ?? .max, 1)) }
    /// The dH kernel on the warp-specialized structure (`sy_gemm_dswiglu_ws`), the default where the shape suits it;
    /// `SWITCHYARD_DH_KERNEL=onerole` keeps the one-role kernel (``warpSpecializedDHidden``).
    let gemmDSwiGLUWS: CUDAFunction
    let dHiddenWarpSpecialized: Bool
    /// The backward's bf16 router term dZ·Wr on the bf16 GEMM that ``bf16GEMM(weights:groups:n:k:output:input:)``
    /// picks for its shape (the overlapped multicast kernel where it fits), the default;
    /// `SWITCHYARD_ROUTER_DX=onerole` keeps the one-role `sy_gemm_bf16` it ran on before.
    let routerInputGradientWarpSpecialized: Bool
    /// How many clusters of two of each multicast kernel can be resident at once (the driver's occupancy query;
    /// nil where it cannot tell): their persistent grid is capped there.
    public let multicastClusters: (threadStores: Int?, tmaStores: Int?, tmaLoadsAndStores: Int?)
    /// Which bf16 GEMM ``bf16GEMM(weights:groups:n:k:)`` launches: by default chosen by shape; for A/B runs
    /// `SWITCHYARD_BF16_GEMM=onerole|pingpong|coop|mc|mcts` in the environment forces one where it applies.
    let bf16Choice: BF16GEMMChoice
    let weightGrad: TileWidths
    let splitRows: CUDAFunction
    let sumPartials: CUDAFunction
    let routerBackward: CUDAFunction
    let padColumns: CUDAFunction
    let scoreGradient: CUDAFunction
    let epRankMask: CUDAFunction
    let epRankRows: CUDAFunction
    let epTokenRows: CUDAFunction
    let packFP8Rows: CUDAFunction
    let mergePlans: CUDAFunction
    let unpackFP8Rows: CUDAFunction
    private let modules: [CUDAModule]

    /// A kernel compiled for 128- and 256-wide output tiles (suffix _128 / _256), with its shared memory per width.
    struct TileWidths {
        let narrow: CUDAFunction
        let wide: CUDAFunction
        let narrowSharedBytes: Int
        let wideSharedBytes: Int

        func callAsFunction(_ width: Int) -> (function: CUDAFunction, sharedBytes: Int) {
            width == 256 ? (wide, wideSharedBytes) : (narrow, narrowSharedBytes)
        }
    }

    /// GemmShape<BN>::smem in moe_grouped_gemm.cu: stages × (A 128×64 + B BN×64 bf16) + 1 KiB alignment slack;
    /// 5 stages for BN 128, 4 for BN 256.
    static func gemmSharedMemoryBytes(width: Int) -> Int {
        width == 256 ? 4 * (128 * 64 * 2 + 256 * 64 * 2) + 1024 : 5 * (2 * 128 * 64 * 2) + 1024
    }
    static let gemmSharedMemoryBytes = gemmSharedMemoryBytes(width: 128)
    /// moe_weight_grad.cu: 4 stages × (A: two 64-wide chunks × 64 rows × 128 B + B: BN/64 such chunks) + 1 KiB.
    static func weightGradSharedMemoryBytes(width: Int) -> Int { 4 * (2 * 64 * 128 + width / 64 * 64 * 128) + 1024 }
    /// The output tile width for N output columns: 256 once there are enough columns to fill it.
    static func tileWidth(columns: Int) -> Int { columns >= 256 ? 256 : 128 }
    static let gemmThreads = 256
    /// WsShape in moe_grouped_gemm.cu, the same for both: ping-pong 5 stages × (A 128×64 + B 128×64 bf16) + two
    /// 128 × 128 bf16 staging buffers + 1 KiB; cooperative 4 × (A 128×64 + B 256×64) + two 64 × 128 + 1 KiB.
    static let warpSpecializedSharedMemoryBytes = 5 * (2 * 128 * 64 * 2) + 2 * (128 * 128 * 2) + 1024
    static let warpSpecializedThreads = 384
    /// SY_MC_MAX_GROUPS: the multicast kernel's pair offsets live in shared memory.
    static let multicastMaxGroups = 256
    static let tileRows = 128
    static let tileColumns = 128
    /// Assignments per block of the metadata kernels (SY_CHUNK).
    static let routeChunk = ForwardWorkspaceLayout.routeChunk
    /// Largest E the top-K kernel holds in registers (32 lanes × SY_MAX_E_PER_LANE).
    public static let maxExperts = 512

    public init(context: CUDAContext, cache: KernelCache) throws {
        self.context = context
        let tmaSwitch = ProcessInfo.processInfo.environment["SWITCHYARD_TMA"]
        tmaWeights = tmaSwitch != "0"
        tmaWeightGradients = tmaSwitch != "0" && tmaSwitch != "grouped"
        bf16Choice = BF16GEMMChoice(rawValue: ProcessInfo.processInfo.environment["SWITCHYARD_BF16_GEMM"] ?? "") ?? .automatic
        var modules: [String: CUDAModule] = [:]
        for (name, source) in KernelSources.all where name.hasSuffix(".cu") {
            let compiled = try cache.compiled(
                source: source, name: name, headers: KernelSources.headers, options: try KernelSources.options(),
                architecture: context.architecture)
            modules[name] = try CUDAModule(context: context, cubin: compiled.cubin)
        }
        func function(_ file: String, _ name: String) throws -> CUDAFunction {
            guard let module = modules[file] else {
                throw CUDAError(rawValue: -1, name: "SWITCHYARD_KERNEL_MISSING", message: "no kernel source \(file)",
                                call: "GPUKernels.init")
            }
            return try module.function(named: name)
        }
        func widths(_ file: String, _ base: String, _ shared: (Int) -> Int) throws -> TileWidths {
            let narrow = try function(file, base + "_128"), wide = try function(file, base + "_256")
            try narrow.setMaxDynamicSharedMemory(shared(128))
            try wide.setMaxDynamicSharedMemory(shared(256))
            return TileWidths(narrow: narrow, wide: wide, narrowSharedBytes: shared(128), wideSharedBytes: shared(256))
        }
        gemmUpSwiGLU = try widths("moe_grouped_gemm.cu", "sy_gemm_up_swiglu", GPUKernels.gemmSharedMemoryBytes(width:))
        gemmBF16 = try widths("moe_grouped_gemm.cu", "sy_gemm_bf16", GPUKernels.gemmSharedMemoryBytes(width:))
        gemmF32 = try function("moe_grouped_gemm.cu", "sy_gemm_f32")
        routerTopK = try function("moe_router.cu", "sy_router_topk")
        routeCount = try function("moe_router.cu", "sy_route_count")
        routeScan = try function("moe_router.cu", "sy_route_scan")
        routeOffsets = try function("moe_router.cu", "sy_route_offsets")
        routeScatter = try function("moe_router.cu", "sy_route_scatter")
        singleGroup = try function("moe_router.cu", "sy_single_group")
        combine = try function("moe_elementwise.cu", "sy_combine")
        combineBF16Extra = try function("moe_elementwise.cu", "sy_combine_bf16_extra")
        packRows = try function("moe_elementwise.cu", "sy_pack_rows")
        bf16ToFloat = try function("moe_elementwise.cu", "sy_bf16_to_f32")
        fillRandomBF16 = try function("moe_elementwise.cu", "sy_fill_random_bf16")
        gemmDSwiGLU = try widths("moe_grouped_gemm.cu", "sy_gemm_dswiglu", GPUKernels.gemmSharedMemoryBytes(width:))
        gemmUpSwiGLUTMA = try widths("moe_grouped_gemm.cu", "sy_gemm_up_swiglu_tma", GPUKernels.gemmSharedMemoryBytes(width:))
        gemmBF16TMA = try widths("moe_grouped_gemm.cu", "sy_gemm_bf16_tma", GPUKernels.gemmSharedMemoryBytes(width:))
        gemmDSwiGLUTMA = try widths("moe_grouped_gemm.cu", "sy_gemm_dswiglu_tma", GPUKernels.gemmSharedMemoryBytes(width:))
        func warpSpecialized(_ name: String) throws -> CUDAFunction {
            let kernel = try function("moe_grouped_gemm.cu", name)
            try kernel.setMaxDynamicSharedMemory(GPUKernels.warpSpecializedSharedMemoryBytes)
            return kernel
        }
        gemmBF16PingPong = try warpSpecialized("sy_gemm_bf16_pingpong")
        gemmBF16Cooperative = try warpSpecialized("sy_gemm_bf16_coop")
        gemmBF16CooperativeMC = try warpSpecialized("sy_gemm_bf16_coop_mc")
        gemmBF16CooperativeMCStore = try warpSpecialized("sy_gemm_bf16_coop_mc_ts")
        gemmBF16CooperativeMCStoreTMAA = try warpSpecialized("sy_gemm_bf16_coop_mc_ts_ta")
        gemmBF16CooperativeMCStoreTMAAOverlap = try warpSpecialized("sy_gemm_bf16_coop_mc_ts_ta_ov")
        gemmBF16CooperativeMCStoreAH = try warpSpecialized("sy_gemm_bf16_coop_mc_ts_ah")
        overlappedEpilogue = ProcessInfo.processInfo.environment["SWITCHYARD_BF16_EPILOGUE"] != "serial"
        gemmDSwiGLUWS = try warpSpecialized("sy_gemm_dswiglu_ws")
        dHiddenWarpSpecialized = ProcessInfo.processInfo.environment["SWITCHYARD_DH_KERNEL"] != "onerole"
        routerInputGradientWarpSpecialized = ProcessInfo.processInfo.environment["SWITCHYARD_ROUTER_DX"] != "onerole"
        func clusters(_ kernel: CUDAFunction) throws -> Int? {
            try kernel.maxActiveClusters(clusterSize: 2, threads: GPUKernels.warpSpecializedThreads,
                                         sharedMemoryBytes: GPUKernels.warpSpecializedSharedMemoryBytes)
        }
        multicastClusters = (try clusters(gemmBF16CooperativeMC), try clusters(gemmBF16CooperativeMCStore),
                             try clusters(overlappedEpilogue ? gemmBF16CooperativeMCStoreTMAAOverlap
                                                             : gemmBF16CooperativeMCStoreTMAA))
        weightGrad = try widths("moe_weight_grad.cu", "sy_gemm_weight_grad", GPUKernels.weightGradSharedMemoryBytes(width:))
        weightGradTMA = try widths("moe_weight_grad.cu", "sy_gemm_weight_grad_tma", GPUKernels.weightGradSharedMemoryBytes(width:))
        weightGradBF16 = try widths("moe_weight_grad.cu", "sy_gemm_weight_grad_bf16",
                                    GPUKernels.weightGradSharedMemoryBytes(width:))
        weightGradTMABF16 = try widths("moe_weight_grad.cu", "sy_gemm_weight_grad_tma_bf16",
                                       GPUKernels.weightGradSharedMemoryBytes(width:))
        splitRows = try function("moe_weight_grad.cu", "sy_split_rows")
        sumPartials = try function("moe_weight_grad.cu", "sy_sum_partials")
        routerBackward = try function("moe_router.cu", "sy_router_backward")
        padColumns = try function("moe_elementwise.cu", "sy_pad_columns")
        scoreGradient = try function("moe_router.cu", "sy_score_gradient")
        epRankMask = try function("moe_router.cu", "sy_ep_rank_mask")
        epRankRows = try function("moe_router.cu", "sy_ep_rank_rows")
        epTokenRows = try function("moe_router.cu", "sy_ep_token_rows")
        packFP8Rows = try function("moe_elementwise.cu", "sy_pack_fp8_rows")
        mergePlans = try function("moe_router.cu", "sy_merge_plans")
        unpackFP8Rows = try function("moe_elementwise.cu", "sy_unpack_fp8_rows")
        try gemmF32.setMaxDynamicSharedMemory(GPUKernels.gemmSharedMemoryBytes)
        self.modules = Array(modules.values)
    }

    /// One grouped GEMM ready to launch: the kernel, its block size and shared memory, and B's tensor map (appended
    /// as the kernel's last parameter) when the kernel takes one.
    struct GroupedGEMM {
        let function: CUDAFunction
        let sharedBytes: Int
        let threads: Int
        let map: TensorMap?
        /// CTAs per cluster (compiled into the kernel): the grid is a multiple of it.
        var clusterSize = 1
        /// The most clusters that can be resident at once (nil: not known); the grid does not exceed it.
        var maxClusters: Int?
        /// C's tensor map, after B's, for the kernels that store by TMA.
        var outputMap: TensorMap?
        /// A's tensor map, after C's, for the kernel that loads A by TMA.
        var inputMap: TensorMap?

        /// Launches one block per SM (the kernels are persistent; for clusters, the SM count rounded down to a
        /// multiple of the cluster size) with `arguments` plus the map.
        func launch(blocks: Int, stream: CUDAStream?, arguments: KernelArguments) throws {
            var a = arguments
            if let map { a.append(map) }
            if let outputMap { a.append(outputMap) }
            if let inputMap { a.append(inputMap) }
            try function.launch(grid: (GroupedGEMM.grid(blocks: blocks, clusterSize: clusterSize, maxClusters: maxClusters), 1, 1),
                                block: (threads, 1, 1), sharedMemoryBytes: sharedBytes, stream: stream, arguments: a)
        }

        /// A persistent grid of about `blocks` blocks: a whole number of clusters, at least one, at most
        /// `maxClusters` of them when that is known and positive.
        static func grid(blocks: Int, clusterSize: Int, maxClusters: Int?) -> Int {
            var clusters = max(1, blocks / clusterSize)
            if let maxClusters, maxClusters > 0 { clusters = min(clusters, maxClusters) }
            return clusters * clusterSize
        }
    }

    /// The grouped GEMM to launch at `width` for weights B ([groups, n, k] bf16, K-major: [groups·n, k] rows): the
    /// `viaTMA` kernel and B's tensor map (`width` × 64 boxes, 128-byte swizzle) when ``tmaWeights`` is on and n is
    /// a multiple of the width (a box never reaches into the next group), else the cp.async kernel `plain` and no
    /// map.
    /// `columns`: the launch's range of the n rows per group (its N; nil: all of them), with B's map starting at the
    /// range's first row (the kernel then takes B[g] at rows g·n ..< g·n + N: its `b_group_rows` is n).
    func groupedGEMM(
        _ plain: TileWidths, _ viaTMA: TileWidths, width: Int, weights: UInt64, groups: Int, n: Int, k: Int,
        columns: Range<Int>? = nil
    ) throws -> GroupedGEMM {
        let range = columns ?? 0..<n
        guard tmaWeights, range.count % width == 0, k % 64 == 0 else {
            let kernel = plain(width)
            return GroupedGEMM(function: kernel.function, sharedBytes: kernel.sharedBytes, threads: GPUKernels.gemmThreads,
                               map: nil)
        }
        let kernel = viaTMA(width)
        return GroupedGEMM(function: kernel.function, sharedBytes: kernel.sharedBytes, threads: GPUKernels.gemmThreads,
                           map: try weightMap(weights: weights, groups: groups, n: n, k: k, boxRows: width,
                                              firstRow: range.lowerBound))
    }

    /// The bf16-output grouped GEMM (arguments as `sy_gemm_bf16`) for weights [groups, n, k]. With B by TMA
    /// (``tmaWeights``): the cooperative warp-specialized kernel when n % 256 == 0 (in clusters of two that
    /// multicast B and store by TMA when groups ≤ 256), the ping-pong one when n % 128 == 0 and k ≤ 256, else
    /// ``groupedGEMM(_:_:width:weights:groups:n:k:)``'s one-role pick. Measured on the H200 (docs/kernel-notes.md,
    /// v9): per down-projection chunk at 30B-n256 (k = 256) one-role 1.1 ms, ping-pong 0.88, cooperative 0.73 (with
    /// multicast the same); per dX-rows chunk (k = 512) 1.25, 1.33, 1.20 and 1.18. The ping-pong's 128 × 128 tiles
    /// read a third more from L2 per FLOP, which costs more than its overlapped epilogue wins from k = 512 on; the
    /// multicast halves B's L2 reads, which leaves the kernel's own time alone but the backward 1–3% faster (the
    /// weight gradients run beside it); the TMA stores 0.66 and 1.11 ms; A by TMA as well (v11, where `input` allows
    /// it) the eight chunks of 30B-n256 7.00 → 6.80 ms. `SWITCHYARD_BF16_GEMM` overrides (see ``bf16Choice``).
    /// `columns`: the launch's range of the n output columns (the layer's column chunks; nil: all), which picks the
    /// kernel by its width; C [rows, columns.count] is the chunk alone, and the launch's arguments pass B at the
    /// range's first row and `b_group_rows` = n. `output`: C's address and the rows it holds (the map of the kernel
    /// that stores by TMA). `input`: A's address and rows, for the kernel that loads A by TMA: given only where A's
    /// boxes of 128 rows may run past the last position and every launch's gather is affine inside each group
    /// (no gather, in the layer; see `sy_gemm_bf16_coop_mc_ts_ta`). nil: A by cp.async.
    ///
    /// `activationFromHidden`: A is SwiGLU(H) of an H [rows, 2k] passed in its place, computed as it is loaded
    /// (`sy_gemm_bf16_coop_mc_ts_ah`); needs the multicast kernel's shapes (n % 256 == 0, groups ≤ 256, B by TMA) and
    /// throws ``SwitchyardError`` for others.
    func bf16GEMM(weights: UInt64, groups: Int, n: Int, k: Int, columns: Range<Int>? = nil,
                  output: (address: UInt64, rows: Int), input: (address: UInt64, rows: Int)? = nil,
                  activationFromHidden: Bool = false) throws -> GroupedGEMM
    {
        let function: CUDAFunction, box: Int
        var clusterSize = 1
        let range = columns ?? 0..<n
        if activationFromHidden {
            let kernel = BF16GEMMChoice.automatic.kernel(n: range.count, k: k, groups: groups, tmaWeights: tmaWeights)
            guard kernel == .cooperativeMulticastStoreTMAA else {
                throw SwitchyardError(
                    .unsupported,
                    "a forward that keeps no A needs column chunks of a multiple of 256, at most "
                        + "\(GPUKernels.multicastMaxGroups) experts and weights by TMA; got \(range.count) columns, \(groups) experts")
            }
            var gemm = GroupedGEMM(function: gemmBF16CooperativeMCStoreAH,
                                   sharedBytes: GPUKernels.warpSpecializedSharedMemoryBytes,
                                   threads: GPUKernels.warpSpecializedThreads,
                                   map: try weightMap(weights: weights, groups: groups, n: n, k: k, boxRows: 128,
                                                      firstRow: range.lowerBound))
            gemm.clusterSize = 2
            gemm.maxClusters = multicastClusters.tmaStores
            gemm.outputMap = try TensorMap.tiled2D(
                context: context, address: output.address, dtype: .bf16, rows: output.rows, columns: range.count,
                rowStrideBytes: range.count * 2, boxRows: 64, boxColumns: 64, swizzle128B: true)
            return gemm
        }
        let kernel = bf16Choice.kernel(n: range.count, k: k, groups: groups, tmaWeights: tmaWeights)
            .loadingA(byTMA: input != nil)
        switch kernel {
        case .oneRole:
            return try groupedGEMM(gemmBF16, gemmBF16TMA, width: GPUKernels.tileWidth(columns: range.count),
                                   weights: weights, groups: groups, n: n, k: k, columns: range)
        case .pingPong: (function, box) = (gemmBF16PingPong, 128)
        case .cooperative: (function, box) = (gemmBF16Cooperative, 256)
        case .cooperativeMulticast: (function, box, clusterSize) = (gemmBF16CooperativeMC, 128, 2)
        case .cooperativeMulticastStore: (function, box, clusterSize) = (gemmBF16CooperativeMCStore, 128, 2)
        case .cooperativeMulticastStoreTMAA:
            (function, box, clusterSize) = (overlappedEpilogue ? gemmBF16CooperativeMCStoreTMAAOverlap
                                                               : gemmBF16CooperativeMCStoreTMAA, 128, 2)
        }
        var gemm = GroupedGEMM(function: function, sharedBytes: GPUKernels.warpSpecializedSharedMemoryBytes,
                               threads: GPUKernels.warpSpecializedThreads,
                               map: try weightMap(weights: weights, groups: groups, n: n, k: k, boxRows: box,
                                                  firstRow: range.lowerBound))
        gemm.clusterSize = clusterSize
        gemm.maxClusters = switch kernel {
        case .cooperativeMulticast: multicastClusters.threadStores
        case .cooperativeMulticastStore: multicastClusters.tmaStores
        case .cooperativeMulticastStoreTMAA: multicastClusters.tmaLoadsAndStores
        default: nil
        }
        if kernel == .cooperativeMulticastStore || kernel == .cooperativeMulticastStoreTMAA {
            gemm.outputMap = try TensorMap.tiled2D(
                context: context, address: output.address, dtype: .bf16, rows: output.rows, columns: range.count,
                rowStrideBytes: range.count * 2, boxRows: 64, boxColumns: 64, swizzle128B: true)
        }
        if kernel == .cooperativeMulticastStoreTMAA, let input {
            gemm.inputMap = try TensorMap.tiled2D(
                context: context, address: input.address, dtype: .bf16, rows: max(input.rows, 1), columns: k,
                rowStrideBytes: k * 2, boxRows: GPUKernels.tileRows, boxColumns: 64, swizzle128B: true)
        }
        return gemm
    }

    /// The warp-specialized dH kernel ready to launch (the one-role dH kernel's arguments; W2's and H's maps appended),
    /// or nil: it is switched off (``dHiddenWarpSpecialized``), or the shape does not suit it (it needs n % 256 == 0, d % 64
    /// == 0 and weights by TMA). `hidden`: H's address and rows (positions), read in 128 × 64 boxes that may run past
    /// the last position, so the layer's own buffer.
    func warpSpecializedDHidden(weights: UInt64, experts: Int, n: Int, d: Int, hidden: (address: UInt64, rows: Int))
        throws -> GroupedGEMM?
    {
        guard dHiddenWarpSpecialized, tmaWeights, n % 256 == 0, d % 64 == 0, hidden.rows > 0 else { return nil }
        var gemm = GroupedGEMM(function: gemmDSwiGLUWS, sharedBytes: GPUKernels.warpSpecializedSharedMemoryBytes,
                               threads: GPUKernels.warpSpecializedThreads,
                               map: try weightMap(weights: weights, groups: experts, n: n, k: d, boxRows: 256))
        gemm.inputMap = try TensorMap.tiled2D(
            context: context, address: hidden.address, dtype: .bf16, rows: hidden.rows, columns: 2 * n,
            rowStrideBytes: 2 * n * 2, boxRows: GPUKernels.tileRows, boxColumns: 64, swizzle128B: true)
        return gemm
    }

    /// B ([groups, n, k] bf16 as [groups·n, k] rows) from row `firstRow` on.
    private func weightMap(weights: UInt64, groups: Int, n: Int, k: Int, boxRows: Int, firstRow: Int = 0) throws
        -> TensorMap
    {
        try TensorMap.tiled2D(
            context: context, address: weights + UInt64(firstRow * k * 2), dtype: .bf16, rows: groups * n - firstRow,
            columns: k, rowStrideBytes: k * 2, boxRows: boxRows, boxColumns: 64, swizzle128B: true)
    }

    /// Fills `count` bf16 values at `address` with seeded pseudo-normal numbers of standard deviation `scale`.
    public func fillRandomBF16(address: UInt64, count: Int, seed: UInt64, scale: Float, stream: CUDAStream? = nil) throws {
        guard count > 0 else { return }
        var args = KernelArguments()
        args.append(address)
        args.append(UInt64(count))
        args.append(seed)
        args.append(scale)
        let blocks = min((count + 255) / 256, context.multiprocessorCount * 16)
        try fillRandomBF16.launch(grid: (blocks, 1, 1), block: (256, 1, 1), stream: stream, arguments: args)
    }

}

/// The bf16 GEMM kernels ``GPUKernels/bf16GEMM(weights:groups:n:k:)`` chooses between (`SWITCHYARD_BF16_GEMM`).
enum BF16GEMMChoice: String {
    /// Cooperative where n % 256 == 0 (with multicast, TMA stores and, where the launch allows it, A by TMA when
    /// groups ≤ 256), else ping-pong for k ≤ 256, else one-role (the default).
    case automatic = ""
    case oneRole = "onerole"
    case pingPong = "pingpong"
    /// The cooperative warp-specialized kernel without multicast where n % 256 == 0, else ping-pong.
    case cooperative = "coop"
    /// The cooperative kernel in clusters of two that multicast B, with thread stores (v9.1), where n % 256 == 0 and
    /// groups ≤ 256; else as `cooperative`.
    case multicast = "mc"
    /// The multicast kernel with TMA stores, A gathered by cp.async (v9.2, the default before v11), where
    /// n % 256 == 0 and groups ≤ 256; else as the default.
    case multicastStores = "mcts"

    /// The bf16 GEMM kernels.
    enum Kernel: Equatable {
        case oneRole, pingPong, cooperative, cooperativeMulticast, cooperativeMulticastStore,
             cooperativeMulticastStoreTMAA

        /// The kernel for a launch whose A may (`byTMA`) or may not be read by TMA: A by TMA needs an affine gather
        /// and rows the map may run past, else the same kernel with A by cp.async.
        func loadingA(byTMA: Bool) -> Kernel {
            self == .cooperativeMulticastStoreTMAA && !byTMA ? .cooperativeMulticastStore : self
        }
    }

    /// The kernel this choice takes for weights [groups, n, k]: the warp-specialized ones need B by TMA
    /// (`tmaWeights`) and n % 128 == 0 (the cooperative ones n % 256 == 0, the multicast one groups ≤ 256).
    func kernel(n: Int, k: Int, groups: Int, tmaWeights: Bool) -> Kernel {
        guard self != .oneRole, tmaWeights, n % 128 == 0, k % 64 == 0 else { return .oneRole }
        let wide = n % 256 == 0, fewGroups = groups <= GPUKernels.multicastMaxGroups
        switch self {
        case .automatic, .multicast, .multicastStores:
            if wide {
                guard fewGroups else { return .cooperative }
                return switch self {
                case .multicast: .cooperativeMulticast
                case .multicastStores: .cooperativeMulticastStore
                default: .cooperativeMulticastStoreTMAA
                }
            }
            return self != .multicast && k > 256 ? .oneRole : .pingPong
        case .cooperative: return wide ? .cooperative : .pingPong
        case .pingPong: return .pingPong
        case .oneRole: return .oneRole
        }
    }
}
