import Switchyard

/// The CTA tile of the grouped GEMMs: output tile `m`×`n`, K step `k`, and `stages` of the shared-memory pipeline.
///
/// Every GEMM kernel of ``KernelPlan`` is tiled with it, so changing it changes tile counts, padding and waves.
/// ```swift
/// let tile = try TileConfig(parsing: "128x256x64x3")
/// ```
public struct TileConfig: Sendable, Hashable, Codable, CustomStringConvertible {
    public var m: Int
    public var n: Int
    public var k: Int
    public var stages: Int

    public init(m: Int = 128, n: Int = 128, k: Int = 64, stages: Int = 4) {
        self.m = m
        self.n = n
        self.k = k
        self.stages = stages
    }

    /// 128×128 tiles, 64-wide K steps, 4 stages.
    public static let `default` = TileConfig()

    /// Parses `MxNxK` or `MxNxKxSTAGES` (stages default to 4).
    public init(parsing text: String) throws {
        let parts = text.lowercased().split(separator: "x").map { Int($0) }
        guard parts.count == 3 || parts.count == 4, let m = parts[0], let n = parts[1], let k = parts[2] else {
            throw SwitchyardError(.invalidConfiguration, "tile '\(text)' must read MxNxK or MxNxKxSTAGES, e.g. 128x128x64x4")
        }
        let stages = parts.count == 4 ? parts[3] : 4
        guard let stages else {
            throw SwitchyardError(.invalidConfiguration, "tile '\(text)': stages must be an integer")
        }
        self.init(m: m, n: n, k: k, stages: stages)
    }

    public var description: String { "\(m)x\(n)x\(k)x\(stages)" }

    /// Shared memory the operand pipeline needs: `stages` × (M×K + N×K) operand elements.
    public func sharedMemoryBytes(operandBytes: Double) -> Int {
        Int((Double(stages * (m * k + n * k)) * operandBytes).rounded(.up))
    }

    /// Throws unless the sides are positive multiples of 16 (wgmma granularity), 2–8 stages, and the pipeline fits.
    public func validate(for hardware: Hardware, precision: Precision) throws {
        for (side, value) in [("M", m), ("N", n), ("K", k)] where value <= 0 || value % 16 != 0 {
            throw SwitchyardError(.invalidConfiguration, "tile \(side) side must be a positive multiple of 16, got \(value)")
        }
        guard (2...8).contains(stages) else {
            throw SwitchyardError(.invalidConfiguration, "tile stages must be in 2...8, got \(stages)")
        }
        let need = sharedMemoryBytes(operandBytes: precision == .bf16 ? 2 : 1)
        guard need <= hardware.sharedMemoryPerSM else {
            throw SwitchyardError(
                .invalidConfiguration,
                "tile \(self) needs \(need) bytes of shared memory for \(precision.rawValue) operands; "
                    + "\(hardware.name) allows \(hardware.sharedMemoryPerSM)")
        }
    }

    /// Output tiles of a grouped GEMM: Σ over groups of ⌈rows/M⌉·⌈columns/N⌉ (each group padded to the M tile).
    public func tileCount(groupRows: [Int], columns: Int) -> Int {
        let columnTiles = ceilDiv(columns, n)
        return groupRows.reduce(0) { $0 + ceilDiv($1, m) * columnTiles }
    }

    /// Rows the tiles cover: each group's rows rounded up to a multiple of M.
    public func paddedRows(_ groupRows: [Int]) -> Int {
        groupRows.reduce(0) { $0 + ceilDiv($1, m) * m }
    }

    /// Full passes of a persistent scheduler over the SMs: ⌈tiles / SMs⌉ (132 SMs, 133 tiles → 2 waves).
    public static func waves(tiles: Int, processors: Int) -> Int {
        ceilDiv(tiles, processors)
    }
}

@inline(__always) func ceilDiv(_ a: Int, _ b: Int) -> Int { (a + b - 1) / b }
