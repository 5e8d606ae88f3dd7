/// Renders estimates as the breakdown tables of `switchyard model` (and beside measurements in `switchyard bench`).
public enum EstimateReport {
    /// One row per kernel and collective: phase, name, FLOPs, bytes, tiles/waves, time, bound, % of peak.
    public static func table(_ kernels: [KernelEstimate]) -> TextTable {
        var table = TextTable(
            ["phase", "kernel / collective", "FLOPs", "bytes", "tiles", "waves", "time", "bound", "% peak"],
            rightAligned: [2, 3, 4, 5, 6, 8])
        var lastPhase: Phase?
        for kernel in kernels {
            if let lastPhase, lastPhase != kernel.phase { table.appendRule() }
            lastPhase = kernel.phase
            table.append([
                kernel.phase.rawValue, kernel.name, Units.flops(kernel.flops), Units.bytes(kernel.bytes),
                kernel.tiles > 0 ? "\(kernel.tiles)" : "", kernel.waves > 0 ? "\(kernel.waves)" : "",
                Units.seconds(kernel.seconds), kernel.bound.rawValue, Units.fixed(kernel.percentOfPeak, 1),
            ])
        }
        return table
    }

    /// Kernels and collectives of an expert-parallel estimate in execution order: each phase's dispatch before
    /// the expert kernels, combine after.
    public static func ordered(_ estimate: ExpertParallelEstimate) -> [KernelEstimate] {
        var result: [KernelEstimate] = []
        for phase in [Phase.forward, .backward] {
            let kernels = estimate.layer.kernels.filter { $0.phase == phase }
            let collectives = estimate.collectives.filter { $0.phase == phase }
            result += kernels.filter { $0.stage == .routing }
            result += collectives.prefix(1)
            result += kernels.filter { $0.stage == .experts }
            result += collectives.dropFirst()
            result += kernels.filter { $0.stage == .output }
        }
        return result
    }
}
