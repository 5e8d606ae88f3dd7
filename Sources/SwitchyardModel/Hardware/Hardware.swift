/// One interconnect as a GPU sees it: bandwidth per direction and the latency of one collective step.
///
/// A transfer of `V` bytes over it is modelled as `t = latency + V / bandwidth` (the α–β model).
public struct Link: Sendable, Hashable, Codable {
    /// Bytes per second, per GPU, per direction (vendor figure; see ``Calibration`` for the reachable fraction).
    public var bandwidth: Double
    /// Seconds of fixed cost per collective step (α), NCCL-level rather than raw wire latency.
    public var latency: Double

    public init(bandwidth: Double, latency: Double) {
        self.bandwidth = bandwidth
        self.latency = latency
    }
}

/// Rates the model divides by: measured ceilings where known, otherwise a fixed fraction of the vendor peak.
///
/// On H100 these come from measurements (MOE.md §4): dense bf16 cuBLAS GEMM 700–800 TFLOP/s, device copy
/// about 3.0 TB/s counting read plus write bytes.
public struct Ceilings: Sendable, Hashable, Codable {
    /// Dense bf16 GEMM FLOP/s (large square cuBLAS GEMM).
    public var bf16GEMMFLOPS: Double
    /// Dense FP8 GEMM FLOP/s.
    public var fp8GEMMFLOPS: Double
    /// Device-to-device copy, bytes read plus bytes written per second.
    public var copyBandwidth: Double
    /// Where the figures came from ("measured", "scaled from H100", a file path).
    public var source: String

    public init(bf16GEMMFLOPS: Double, fp8GEMMFLOPS: Double, copyBandwidth: Double, source: String) {
        self.bf16GEMMFLOPS = bf16GEMMFLOPS
        self.fp8GEMMFLOPS = fp8GEMMFLOPS
        self.copyBandwidth = copyBandwidth
        self.source = source
    }
}

/// A GPU and its interconnect: vendor peaks, reachable ceilings and the numbers the tile model needs.
///
/// ```swift
/// let h100 = Hardware.named("h100")!
/// let measured = try h100.overridden(byJSONFile: "bench/hardware/h100-sxm.json")
/// ```
public struct Hardware: Sendable, Hashable, Codable {
    public var name: String
    /// Vendor peak dense bf16 tensor-core FLOP/s (no sparsity).
    public var bf16FLOPS: Double
    /// Vendor peak dense FP8 tensor-core FLOP/s (no sparsity).
    public var fp8FLOPS: Double
    /// Vendor peak HBM bandwidth, bytes per second.
    public var memoryBandwidth: Double
    /// HBM capacity in bytes.
    public var memoryBytes: Double
    /// Streaming multiprocessors: the workers of a persistent tile scheduler (one 128×128 CTA each).
    public var smCount: Int
    public var l2Bytes: Int
    /// Shared memory a CTA may use, bytes (bounds tile size × pipeline stages).
    public var sharedMemoryPerSM: Int
    /// Whether tensor cores apply MX block scales natively (Blackwell); Hopper emulates MXFP8.
    public var blockScaledMMA: Bool
    public var nvlink: Link
    public var infiniband: Link
    /// GPUs in one NVLink domain (8 on HGX boards, 72 in an NVL72 rack).
    public var nvlinkDomain: Int
    public var ceilings: Ceilings

    public init(
        name: String, bf16FLOPS: Double, fp8FLOPS: Double, memoryBandwidth: Double, memoryBytes: Double,
        smCount: Int, l2Bytes: Int, sharedMemoryPerSM: Int, blockScaledMMA: Bool, nvlink: Link, infiniband: Link,
        nvlinkDomain: Int, ceilings: Ceilings
    ) {
        self.name = name
        self.bf16FLOPS = bf16FLOPS
        self.fp8FLOPS = fp8FLOPS
        self.memoryBandwidth = memoryBandwidth
        self.memoryBytes = memoryBytes
        self.smCount = smCount
        self.l2Bytes = l2Bytes
        self.sharedMemoryPerSM = sharedMemoryPerSM
        self.blockScaledMMA = blockScaledMMA
        self.nvlink = nvlink
        self.infiniband = infiniband
        self.nvlinkDomain = nvlinkDomain
        self.ceilings = ceilings
    }

    /// Vendor peak FLOP/s of the tensor-core path a precision runs on.
    public func peakFLOPS(_ precision: Precision) -> Double {
        precision == .bf16 ? bf16FLOPS : fp8FLOPS
    }

    /// Reachable dense GEMM FLOP/s for a precision (before the grouped-GEMM efficiency of ``Calibration``).
    public func gemmCeiling(_ precision: Precision) -> Double {
        precision == .bf16 ? ceilings.bf16GEMMFLOPS : ceilings.fp8GEMMFLOPS
    }
}

extension Hardware {
    private static let gib = 1024.0 * 1024 * 1024
    private static let mib = 1024 * 1024
    /// Measured-over-peak ratios on H100 (750 of 989 TFLOP/s, 3.0 of 3.35 TB/s), used to scale the other parts'
    /// peaks until they are measured.
    static let computeCeilingRatio = 750.0 / 989.4
    static let copyCeilingRatio = 3.0 / 3.35

    static func scaledCeilings(bf16: Double, fp8: Double, memory: Double, from: String) -> Ceilings {
        Ceilings(
            bf16GEMMFLOPS: bf16 * computeCeilingRatio, fp8GEMMFLOPS: fp8 * computeCeilingRatio,
            copyBandwidth: memory * copyCeilingRatio, source: "vendor peak × H100 measured ratio (\(from))")
    }

    /// NVIDIA H100 SXM5 80 GB: 989 TFLOP/s bf16, 1979 FP8, 3.35 TB/s HBM3, NVLink 4 (450 GB/s each way),
    /// one 400 Gb/s NDR InfiniBand NIC per GPU.
    public static let h100SXM = Hardware(
        name: "H100 SXM", bf16FLOPS: 989.4e12, fp8FLOPS: 1978.9e12, memoryBandwidth: 3.35e12,
        memoryBytes: 80 * gib, smCount: 132, l2Bytes: 50 * mib, sharedMemoryPerSM: 227 * 1024,
        blockScaledMMA: false, nvlink: Link(bandwidth: 450e9, latency: 5e-6),
        infiniband: Link(bandwidth: 50e9, latency: 12e-6), nvlinkDomain: 8,
        ceilings: Ceilings(
            bf16GEMMFLOPS: 750e12, fp8GEMMFLOPS: 1978.9e12 * computeCeilingRatio, copyBandwidth: 3.0e12,
            source: "measured on H100 80GB HBM3 (bf16 GEMM, copy); FP8 scaled"))

    /// NVIDIA H200 SXM 141 GB: the H100 compute die with 4.8 TB/s HBM3e.
    public static let h200 = Hardware(
        name: "H200", bf16FLOPS: 989.4e12, fp8FLOPS: 1978.9e12, memoryBandwidth: 4.8e12,
        memoryBytes: 141e9, smCount: 132, l2Bytes: 50 * mib, sharedMemoryPerSM: 227 * 1024,
        blockScaledMMA: false, nvlink: Link(bandwidth: 450e9, latency: 5e-6),
        infiniband: Link(bandwidth: 50e9, latency: 12e-6), nvlinkDomain: 8,
        ceilings: scaledCeilings(bf16: 989.4e12, fp8: 1978.9e12, memory: 4.8e12, from: "H200"))

    /// NVIDIA B200 (HGX): 2.25 PFLOP/s bf16, 4.5 FP8 dense, 8 TB/s HBM3e, NVLink 5 (900 GB/s each way).
    public static let b200 = Hardware(
        name: "B200", bf16FLOPS: 2.25e15, fp8FLOPS: 4.5e15, memoryBandwidth: 8e12,
        memoryBytes: 180e9, smCount: 148, l2Bytes: 126 * mib, sharedMemoryPerSM: 227 * 1024,
        blockScaledMMA: true, nvlink: Link(bandwidth: 900e9, latency: 5e-6),
        infiniband: Link(bandwidth: 50e9, latency: 12e-6), nvlinkDomain: 8,
        ceilings: scaledCeilings(bf16: 2.25e15, fp8: 4.5e15, memory: 8e12, from: "B200"))

    /// One Blackwell GPU of a GB200 NVL72 rack: 2.5 PFLOP/s bf16, 5 FP8 dense, 8 TB/s, 72 GPUs per NVLink domain.
    public static let gb200 = Hardware(
        name: "GB200", bf16FLOPS: 2.5e15, fp8FLOPS: 5e15, memoryBandwidth: 8e12,
        memoryBytes: 186e9, smCount: 148, l2Bytes: 126 * mib, sharedMemoryPerSM: 227 * 1024,
        blockScaledMMA: true, nvlink: Link(bandwidth: 900e9, latency: 5e-6),
        infiniband: Link(bandwidth: 50e9, latency: 12e-6), nvlinkDomain: 72,
        ceilings: scaledCeilings(bf16: 2.5e15, fp8: 5e15, memory: 8e12, from: "GB200"))

    /// The built-in parts, in the order `switchyard model --help` lists them.
    public static let all: [Hardware] = [h100SXM, h200, b200, gb200]

    /// The part a device description names ("NVIDIA H200", "cuda: NVIDIA H100 80GB HBM3 (sm_90a)", "NVIDIA B200"),
    /// nil when it names none of the built-in parts.
    public static func part(inDevice description: String) -> Hardware? {
        let words = description.uppercased().split(whereSeparator: { !$0.isLetter && !$0.isNumber })
        if words.contains("GB200") { return gb200 }
        if words.contains("B200") { return b200 }
        if words.contains("H200") { return h200 }
        if words.contains("H100") { return h100SXM }
        return nil
    }

    /// Looks a part up by a loose name: "h100", "h100-sxm", "H200", "b200", "gb200".
    public static func named(_ name: String) -> Hardware? {
        let key = name.lowercased().filter { $0.isLetter || $0.isNumber }
        switch key {
        case "h100", "h100sxm", "h100sxm5": return h100SXM
        case "h200", "h200sxm": return h200
        case "b200": return b200
        case "gb200", "gb200nvl72": return gb200
        default: return nil
        }
    }
}
