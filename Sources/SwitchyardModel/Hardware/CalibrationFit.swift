#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Switchyard

/// One configuration measured by `switchyard bench --backward --json` (the fields the fit reads).
public struct MeasuredLayer: Sendable, Hashable, Codable {
    public var config: String
    public var tokens: Int
    public var hidden: Int
    public var intermediate: Int
    public var experts: Int
    public var topK: Int
    public var forwardMs: Double
    /// Absent when the bench ran forward only; the fit then uses the forward time alone.
    public var backwardMs: Double?
    /// The GPU as the bench named it (e.g. "cuda: NVIDIA H200 (sm_90a)"); absent in older files.
    public var device: String?

    public init(
        config: String, tokens: Int, hidden: Int, intermediate: Int, experts: Int, topK: Int, forwardMs: Double,
        backwardMs: Double?, device: String? = nil
    ) {
        self.config = config
        self.tokens = tokens
        self.hidden = hidden
        self.intermediate = intermediate
        self.experts = experts
        self.topK = topK
        self.forwardMs = forwardMs
        self.backwardMs = backwardMs
        self.device = device
    }

    /// The part to fit `rows` for: `requested` (`--hardware`) when given, else the part their devices name (H100
    /// when they name none). Throws when the rows name two parts, or a part other than `requested`: a fit to one
    /// GPU's times under another part's ceilings is not a calibration of either.
    public static func part(for rows: [MeasuredLayer], requested: String?) throws -> String {
        let named = Set(rows.compactMap { $0.device.flatMap(Hardware.part(inDevice:)) }.map(\.name))
        guard named.count <= 1 else {
            throw SwitchyardError(.invalidConfiguration,
                                  "the results were measured on more than one part (\(named.sorted().joined(separator: ", ")))")
        }
        if let requested {
            guard let part = Hardware.named(requested) else {
                throw SwitchyardError(.invalidConfiguration, "unknown hardware '\(requested)'")
            }
            if let measured = named.first, measured != part.name {
                throw SwitchyardError(.invalidConfiguration,
                                      "the results were measured on \(measured), not \(part.name): leave --hardware out, or name the part they were measured on")
            }
            return requested
        }
        let shortNames = [Hardware.h100SXM.name: "h100", Hardware.h200.name: "h200", Hardware.b200.name: "b200",
                          Hardware.gb200.name: "gb200"]
        return named.first.flatMap { shortNames[$0] } ?? "h100"
    }

    /// The layer as `switchyard bench` runs it: SwiGLU, bf16, uniform routing, Switchyard's tiles.
    public var workload: LayerWorkload {
        LayerWorkload(tokens: tokens, hidden: hidden, intermediate: intermediate, experts: experts, topK: topK)
    }

    /// Reads the JSON array `switchyard bench --json` writes; throws ``SwitchyardError`` naming the path.
    public static func load(_ path: String) throws -> [MeasuredLayer] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SwitchyardError(.io, "cannot read bench results \(path): \(error)")
        }
        do {
            return try JSONDecoder().decode([MeasuredLayer].self, from: data)
        } catch {
            throw SwitchyardError(.malformedFile, "bench results \(path) are not a JSON array of bench rows: \(error)")
        }
    }
}

/// A calibration factor the fit may move, with the range it searches.
public enum CalibrationFactor: String, Sendable, Hashable, CaseIterable, Codable {
    case gemmEfficiency, largeTileGEMMEfficiency, tileOverheadKSteps, weightGradientEfficiency
    case weightGradientTileOverheadKSteps, memoryEfficiency, computeMemoryOverlap, launchOverhead

    /// The physically meaningful range: fractions in 0.05…1, overheads in 0…32 K steps, launches in 0…20 µs.
    public var range: ClosedRange<Double> {
        switch self {
        case .tileOverheadKSteps, .weightGradientTileOverheadKSteps: 0...32
        case .launchOverhead: 0...20e-6
        case .computeMemoryOverlap: 0...1
        default: 0.05...1
        }
    }

    public func value(in calibration: Calibration) -> Double {
        switch self {
        case .gemmEfficiency: calibration.gemmEfficiency
        case .largeTileGEMMEfficiency: calibration.largeTileGEMMEfficiency
        case .tileOverheadKSteps: calibration.tileOverheadKSteps
        case .weightGradientEfficiency: calibration.weightGradientEfficiency
        case .weightGradientTileOverheadKSteps: calibration.weightGradientTileOverheadKSteps
        case .memoryEfficiency: calibration.memoryEfficiency
        case .computeMemoryOverlap: calibration.computeMemoryOverlap
        case .launchOverhead: calibration.launchOverhead
        }
    }

    public func set(_ value: Double, in calibration: inout Calibration) {
        switch self {
        case .gemmEfficiency: calibration.gemmEfficiency = value
        case .largeTileGEMMEfficiency: calibration.largeTileGEMMEfficiency = value
        case .tileOverheadKSteps: calibration.tileOverheadKSteps = value
        case .weightGradientEfficiency: calibration.weightGradientEfficiency = value
        case .weightGradientTileOverheadKSteps: calibration.weightGradientTileOverheadKSteps = value
        case .memoryEfficiency: calibration.memoryEfficiency = value
        case .computeMemoryOverlap: calibration.computeMemoryOverlap = value
        case .launchOverhead: calibration.launchOverhead = value
        }
    }
}

/// The model's prediction beside one measurement.
public struct PredictionError: Sendable, Hashable {
    public var config: String
    public var measuredForwardMs: Double
    public var predictedForwardMs: Double
    public var measuredBackwardMs: Double?
    public var predictedBackwardMs: Double
    /// Whether the fit saw this configuration (false: held out).
    public var fitted: Bool

    /// (predicted − measured) / measured, in percent.
    public var forwardErrorPercent: Double { 100 * (predictedForwardMs / measuredForwardMs - 1) }
    public var backwardErrorPercent: Double? { measuredBackwardMs.map { 100 * (predictedBackwardMs / $0 - 1) } }
}

/// Fits calibration factors to measured layer times: least squares of log(predicted / measured) over the
/// forward and backward time of every configuration, by cyclic golden-section search on one factor at a time
/// within its ``CalibrationFactor/range``. The same factors apply to every configuration (no per-config terms).
///
/// ```swift
/// let rows = try MeasuredLayer.load("bench/results/2026-11-24-H100-fwd-bwd-8c933b6/switchyard.json")
/// let fit = CalibrationFit(hardware: .h100SXM, start: .default)
/// let calibration = fit.fit(rows)
/// for row in fit.errors(rows, calibration: calibration, fitted: Set(rows.map(\.config))) { print(row) }
/// ```
public struct CalibrationFit: Sendable {
    public var hardware: Hardware
    public var start: Calibration
    public var factors: [CalibrationFactor]
    /// Passes over all factors.
    public var sweeps: Int

    public init(
        hardware: Hardware, start: Calibration, factors: [CalibrationFactor] = CalibrationFactor.allCases, sweeps: Int = 12
    ) {
        self.hardware = hardware
        self.start = start
        self.factors = factors
        self.sweeps = sweeps
    }

    /// Sum over configurations of log²(predicted / measured), forward and backward.
    public func loss(_ rows: [MeasuredLayer], calibration: Calibration) -> Double {
        let model = PerformanceModel(hardware: hardware, calibration: calibration)
        return rows.reduce(0) { total, row in
            let estimate = model.estimate(row.workload)
            var sum = Self.squaredLog(estimate.forwardSeconds * 1e3, row.forwardMs)
            if let backward = row.backwardMs { sum += Self.squaredLog(estimate.backwardSeconds * 1e3, backward) }
            return total + sum
        }
    }

    /// The factors that minimize ``loss(_:calibration:)``, starting from ``start``.
    public func fit(_ rows: [MeasuredLayer]) -> Calibration {
        var best = start
        for factor in factors {
            factor.set(min(max(factor.value(in: best), factor.range.lowerBound), factor.range.upperBound), in: &best)
        }
        guard !rows.isEmpty else { return best }
        for _ in 0..<sweeps {
            for factor in factors {
                best = minimize(factor, from: best, rows)
            }
        }
        return best
    }

    /// Predictions beside measurements; `fitted` names the configurations the fit used.
    public func errors(_ rows: [MeasuredLayer], calibration: Calibration, fitted: Set<String>) -> [PredictionError] {
        let model = PerformanceModel(hardware: hardware, calibration: calibration)
        return rows.map { row in
            let estimate = model.estimate(row.workload)
            return PredictionError(
                config: row.config, measuredForwardMs: row.forwardMs, predictedForwardMs: estimate.forwardSeconds * 1e3,
                measuredBackwardMs: row.backwardMs, predictedBackwardMs: estimate.backwardSeconds * 1e3,
                fitted: fitted.contains(row.config))
        }
    }

    private static func squaredLog(_ predicted: Double, _ measured: Double) -> Double {
        let r = log(predicted / measured)
        return r * r
    }

    /// Golden-section search of one factor over its range (a coarse scan first, so a local dip is not missed).
    private func minimize(_ factor: CalibrationFactor, from calibration: Calibration, _ rows: [MeasuredLayer]) -> Calibration {
        func loss(at value: Double) -> Double {
            var trial = calibration
            factor.set(value, in: &trial)
            return self.loss(rows, calibration: trial)
        }
        let range = factor.range, points = 16
        let step = (range.upperBound - range.lowerBound) / Double(points)
        let grid = (0...points).map { range.lowerBound + Double($0) * step }
        let current = factor.value(in: calibration)
        let bestGrid = grid.min { loss(at: $0) < loss(at: $1) } ?? current
        var lo = max(range.lowerBound, bestGrid - step), hi = min(range.upperBound, bestGrid + step)
        let ratio = (5.0.squareRoot() - 1) / 2
        var a = hi - ratio * (hi - lo), b = lo + ratio * (hi - lo)
        var fa = loss(at: a), fb = loss(at: b)
        for _ in 0..<30 {
            if fa < fb {
                hi = b; b = a; fb = fa; a = hi - ratio * (hi - lo); fa = loss(at: a)
            } else {
                lo = a; a = b; fa = fb; b = lo + ratio * (hi - lo); fb = loss(at: b)
            }
        }
        let candidate = fa < fb ? a : b
        var result = calibration
        factor.set(loss(at: candidate) < loss(at: current) ? candidate : current, in: &result)
        return result
    }
}
