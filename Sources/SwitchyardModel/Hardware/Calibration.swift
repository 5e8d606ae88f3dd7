/// The efficiency factors that turn ceilings into predicted kernel times.
///
/// Every factor is a named constant so that GPU measurements can replace it; load replacements from the
/// same JSON file as the ceilings (``Calibration/overridden(byJSONFile:)``). docs/performance-model.md justifies
/// each default.
public struct Calibration: Sendable, Hashable, Codable {
    /// Fraction of the dense GEMM ceiling a grouped GEMM reaches with 128×128 tiles over a long K.
    public var gemmEfficiency: Double
    /// Same, for tiles of at least 128×256 (more reuse per loaded byte).
    public var largeTileGEMMEfficiency: Double
    /// Same, for tiles with an M or N side below 128 (one 64-row wgmma per warpgroup, less reuse).
    public var smallTileGEMMEfficiency: Double
    /// K steps lost per output tile to the pipeline fill and the epilogue that the persistent scheduler
    /// does not hide. A GEMM with K = 4 steps runs at 4 / (4 + this) of its long-K rate.
    public var tileOverheadKSteps: Double
    /// Fraction of the dense GEMM ceiling the weight-gradient GEMMs reach (dW = Xᵀ·dY, the reduction over
    /// each expert's rows, both operands MN-major in shared memory, fp32 output).
    public var weightGradientEfficiency: Double
    /// K steps lost per output tile of a weight-gradient GEMM (its epilogue stores fp32, twice the bytes).
    public var weightGradientTileOverheadKSteps: Double
    /// Fraction of the copy ceiling that streaming kernels (gathers, reductions, top-K) reach.
    public var memoryEfficiency: Double
    /// How much of the shorter of compute and memory time hides under the longer one inside a GEMM (0…1).
    public var computeMemoryOverlap: Double
    /// Seconds each kernel launch adds: the gap between dependent kernels, without CUDA graphs.
    public var launchOverhead: Double
    /// Rate of MXFP8 GEMMs relative to FP8 on parts without block-scaled MMA (Hopper).
    public var mxfp8EmulationEfficiency: Double
    /// Fraction of the NVLink bandwidth an all-to-all reaches.
    public var nvlinkEfficiency: Double
    /// Fraction of the InfiniBand bandwidth an all-to-all reaches.
    public var infinibandEfficiency: Double

    public init(
        gemmEfficiency: Double = 0.85, largeTileGEMMEfficiency: Double = 0.88,
        smallTileGEMMEfficiency: Double = 0.70, tileOverheadKSteps: Double = 1.0,
        weightGradientEfficiency: Double = 0.85, weightGradientTileOverheadKSteps: Double = 1.0,
        memoryEfficiency: Double = 0.85,
        computeMemoryOverlap: Double = 0.8, launchOverhead: Double = 3e-6, mxfp8EmulationEfficiency: Double = 0.6,
        nvlinkEfficiency: Double = 0.75, infinibandEfficiency: Double = 0.8
    ) {
        self.gemmEfficiency = gemmEfficiency
        self.largeTileGEMMEfficiency = largeTileGEMMEfficiency
        self.smallTileGEMMEfficiency = smallTileGEMMEfficiency
        self.tileOverheadKSteps = tileOverheadKSteps
        self.weightGradientEfficiency = weightGradientEfficiency
        self.weightGradientTileOverheadKSteps = weightGradientTileOverheadKSteps
        self.memoryEfficiency = memoryEfficiency
        self.computeMemoryOverlap = computeMemoryOverlap
        self.launchOverhead = launchOverhead
        self.mxfp8EmulationEfficiency = mxfp8EmulationEfficiency
        self.nvlinkEfficiency = nvlinkEfficiency
        self.infinibandEfficiency = infinibandEfficiency
    }

    /// The defaults documented in docs/performance-model.md.
    public static let `default` = Calibration()

    /// The grouped-GEMM efficiency that applies to a tile shape.
    public func gemmEfficiency(for tile: TileConfig) -> Double {
        if tile.m < 128 || tile.n < 128 { return smallTileGEMMEfficiency }
        if tile.m * tile.n >= 128 * 256 { return largeTileGEMMEfficiency }
        return gemmEfficiency
    }
}
