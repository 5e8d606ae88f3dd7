/// How the GEMMs of a layer pick their output tile from the workload's ``TileConfig``.
///
/// ```swift
/// var workload = LayerWorkload(shape: NamedShape.named("30B-n1024")!)
/// workload.tileRule = .uniform   // every GEMM on workload.tile, as the planner compares tiles
/// ```
public enum TileRule: String, Sendable, Hashable, Codable, CaseIterable {
    /// Switchyard's kernels: expert GEMMs and weight gradients double the tile's N side (128 → 256, wgmma
    /// m64n256k16) where the output is wide enough; the router's GEMMs keep the tile as given.
    case switchyardKernels
    /// Every GEMM uses the workload's tile as given.
    case uniform

    /// The tile of a GEMM with `columns` output columns. `halves` > 1 asks that each of that many equal
    /// parts of the columns fill whole halves of the wide tile (the up-projection packs gate and up halves,
    /// so n must be a multiple of N); `divides` asks that the wide tile divide the columns exactly (the dH
    /// kernel's per-tile dS partials).
    func tile(_ base: TileConfig, columns: Int, halves: Int = 1, divides: Bool = false) -> TileConfig {
        guard self == .switchyardKernels else { return base }
        let wide = TileConfig(m: base.m, n: 2 * base.n, k: base.k, stages: base.stages)
        let fits: Bool
        if halves > 1 {
            fits = (columns / halves) % base.n == 0
        } else if divides {
            fits = columns % wide.n == 0
        } else {
            fits = columns >= wide.n
        }
        return fits ? wide : base
    }
}
