/// Predicts the time of every kernel of an MoE layer from FLOPs, bytes, tiles and waves.
///
/// For a GEMM: compute time = the persistent scheduler's finish time over all tiles, each tile costing
/// 2·M·N·(K rounded up to the K step + overhead steps) at (ceiling × efficiency / SMs); memory time = bytes over
/// (copy ceiling × memory efficiency); time = max + (1 − overlap)·min, plus launch overhead.
/// A streaming kernel takes its memory time plus launches.
///
/// ```swift
/// let model = PerformanceModel(hardware: .h100SXM)
/// let estimate = model.estimate(LayerWorkload(shape: NamedShape.named("7B-n256")!))
/// print(estimate.forwardTFLOPS, estimate.backwardTFLOPS)
/// ```
public struct PerformanceModel: Sendable {
    public var hardware: Hardware
    public var calibration: Calibration

    public init(hardware: Hardware, calibration: Calibration = .default) {
        self.hardware = hardware
        self.calibration = calibration
    }

    /// Predicts every kernel of ``KernelPlan`` for a workload. The workload must be valid
    /// (``LayerWorkload/validate()``).
    public func estimate(_ workload: LayerWorkload) -> LayerEstimate {
        let specs = KernelPlan.kernels(for: workload, smCount: hardware.smCount)
        let kernels = specs.map { estimate($0, tile: workload.tile) }
        let cached = KernelPlan.cachedBytes(workload)
        let transient = specs.map(\.transientBytes).max() ?? 0
        func seconds(_ phase: Phase) -> Double {
            kernels.filter { $0.phase == phase }.reduce(0) { $0 + $1.seconds }
        }
        return LayerEstimate(
            kernels: kernels, forwardSeconds: seconds(.forward), backwardSeconds: seconds(.backward),
            cachedActivationBytes: cached, peakActivationBytes: cached + transient,
            forwardFLOPs: workload.forwardFLOPs, backwardFLOPs: workload.backwardFLOPs)
    }

    /// Predicts one kernel; a GEMM without its own tile uses `tile`.
    public func estimate(_ spec: KernelSpec, tile: TileConfig) -> KernelEstimate {
        let memory = spec.bytes / (hardware.ceilings.copyBandwidth * calibration.memoryEfficiency)
        let launch = Double(spec.launches) * calibration.launchOverhead
        switch spec.work {
        case .streaming:
            let seconds = memory + launch
            return KernelEstimate(
                name: spec.name, phase: spec.phase, stage: spec.stage, flops: spec.flops, bytes: spec.bytes, seconds: seconds,
                bound: memory >= launch ? .memory : .launch,
                percentOfPeak: 100 * spec.bytes / seconds / hardware.memoryBandwidth,
                memorySeconds: memory, launches: spec.launches)
        case .gemm(let groups, let columns, let precision, let own, let kind):
            let tile = own ?? tile
            let tiles = tile.tileCount(groupRows: groups.map(\.rows), columns: columns)
            let compute = gemmComputeSeconds(groups: groups, columns: columns, precision: precision, tile: tile, kind: kind)
            let overlapped = max(compute, memory) + (1 - calibration.computeMemoryOverlap) * min(compute, memory)
            let seconds = overlapped + launch
            let computeBound = compute >= memory
            let percent = computeBound
                ? 100 * spec.flops / seconds / hardware.peakFLOPS(precision)
                : 100 * spec.bytes / seconds / hardware.memoryBandwidth
            return KernelEstimate(
                name: spec.name, phase: spec.phase, stage: spec.stage, flops: spec.flops, bytes: spec.bytes, seconds: seconds,
                bound: computeBound ? .compute : .memory, percentOfPeak: percent, tiles: tiles,
                waves: TileConfig.waves(tiles: tiles, processors: hardware.smCount), computeSeconds: compute,
                memorySeconds: memory, launches: spec.launches)
        }
    }

    /// FLOP/s one SM reaches on a precision's GEMM with this tile.
    public func perSMRate(_ precision: Precision, tile: TileConfig, kind: GEMMKind = .grouped) -> Double {
        let efficiency = kind == .weightGradient ? calibration.weightGradientEfficiency : calibration.gemmEfficiency(for: tile)
        var rate = hardware.gemmCeiling(precision) * efficiency
        if precision == .mxfp8, !hardware.blockScaledMMA { rate *= calibration.mxfp8EmulationEfficiency }
        return rate / Double(hardware.smCount)
    }

    /// Seconds for one output tile with reduction length `depth`.
    public func tileSeconds(depth: Int, precision: Precision, tile: TileConfig, kind: GEMMKind = .grouped) -> Double {
        let overhead = kind == .weightGradient ? calibration.weightGradientTileOverheadKSteps : calibration.tileOverheadKSteps
        let steps = Double(ceilDiv(depth, tile.k)) + overhead
        return 2 * Double(tile.m * tile.n * tile.k) * steps / perSMRate(precision, tile: tile, kind: kind)
    }

    private func gemmComputeSeconds(
        groups: [GEMMGroup], columns: Int, precision: Precision, tile: TileConfig, kind: GEMMKind
    ) -> Double {
        let columnTiles = ceilDiv(columns, tile.n)
        let runs = groups.filter { $0.rows > 0 && $0.depth > 0 }.map {
            (count: ceilDiv($0.rows, tile.m) * columnTiles,
             cost: tileSeconds(depth: $0.depth, precision: precision, tile: tile, kind: kind))
        }
        return persistentMakespan(runs: runs, workers: hardware.smCount)
    }
}
