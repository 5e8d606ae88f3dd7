#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard

/// The JSON file of measured ceilings and calibration factors (bench/hardware/*.json).
///
/// Every field is optional; the ones present replace the built-in values.
/// ```json
/// { "hardware": "h100",
///   "ceilings": { "bf16GEMMFLOPS": 7.5e14, "copyBandwidth": 3.0e12 },
///   "memoryBandwidth": 3.35e12,
///   "calibration": { "gemmEfficiency": 0.8 } }
/// ```
public struct HardwareFile: Sendable, Codable {
    public struct CeilingOverrides: Sendable, Codable {
        public var bf16GEMMFLOPS: Double?
        public var fp8GEMMFLOPS: Double?
        public var copyBandwidth: Double?
    }

    public struct CalibrationOverrides: Sendable, Codable {
        public var gemmEfficiency: Double?
        public var largeTileGEMMEfficiency: Double?
        public var smallTileGEMMEfficiency: Double?
        public var tileOverheadKSteps: Double?
        public var weightGradientEfficiency: Double?
        public var weightGradientTileOverheadKSteps: Double?
        public var memoryEfficiency: Double?
        public var computeMemoryOverlap: Double?
        public var launchOverhead: Double?
        public var mxfp8EmulationEfficiency: Double?
        public var nvlinkEfficiency: Double?
        public var infinibandEfficiency: Double?
    }

    /// The built-in part this file refines (``Hardware/named(_:)``); optional.
    public var hardware: String?
    public var ceilings: CeilingOverrides?
    public var bf16FLOPS: Double?
    public var fp8FLOPS: Double?
    public var memoryBandwidth: Double?
    public var smCount: Int?
    public var nvlinkBandwidth: Double?
    public var nvlinkLatency: Double?
    public var infinibandBandwidth: Double?
    public var infinibandLatency: Double?
    public var calibration: CalibrationOverrides?

    /// Reads and decodes a file; throws ``SwitchyardError`` (`.io` or `.malformedFile`) naming the path.
    public static func load(_ path: String) throws -> HardwareFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SwitchyardError(.io, "cannot read hardware file \(path): \(error)")
        }
        let file: HardwareFile
        let keys: KeyCheck
        do {
            file = try JSONDecoder().decode(HardwareFile.self, from: data)
            keys = try JSONDecoder().decode(KeyCheck.self, from: data)
        } catch {
            throw SwitchyardError(.malformedFile, "hardware file \(path) is not valid: \(error)")
        }
        if let unknown = keys.unknown.first {
            // A misspelt factor would otherwise be ignored silently.
            throw SwitchyardError(.malformedFile, "hardware file \(path): unknown field '\(unknown)'")
        }
        try file.validate(path)
        return file
    }

    /// Collects the field names a file uses that ``HardwareFile`` does not know.
    private struct KeyCheck: Decodable {
        struct Name: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        static let top: Set<String> = [
            "hardware", "ceilings", "bf16FLOPS", "fp8FLOPS", "memoryBandwidth", "smCount", "nvlinkBandwidth",
            "nvlinkLatency", "infinibandBandwidth", "infinibandLatency", "calibration",
        ]
        static let ceilings: Set<String> = ["bf16GEMMFLOPS", "fp8GEMMFLOPS", "copyBandwidth"]
        static let calibration: Set<String> = [
            "gemmEfficiency", "largeTileGEMMEfficiency", "smallTileGEMMEfficiency", "tileOverheadKSteps",
            "weightGradientEfficiency", "weightGradientTileOverheadKSteps", "memoryEfficiency", "computeMemoryOverlap",
            "launchOverhead", "mxfp8EmulationEfficiency",
            "nvlinkEfficiency", "infinibandEfficiency",
        ]

        var unknown: [String] = []

        init(from decoder: Decoder) throws {
            let container = try decoder.container(keyedBy: Name.self)
            unknown = container.allKeys.map(\.stringValue).filter { !Self.top.contains($0) }
            for (section, known) in [("ceilings", Self.ceilings), ("calibration", Self.calibration)] {
                let key = Name(stringValue: section)
                guard container.contains(key) else { continue }
                let nested = try container.nestedContainer(keyedBy: Name.self, forKey: key)
                unknown += nested.allKeys.map { "\(section).\($0.stringValue)" }.filter {
                    !known.contains(String($0.dropFirst(section.count + 1)))
                }
            }
        }
    }

    private func validate(_ path: String) throws {
        let rates: [(String, Double?)] = [
            ("ceilings.bf16GEMMFLOPS", ceilings?.bf16GEMMFLOPS), ("ceilings.fp8GEMMFLOPS", ceilings?.fp8GEMMFLOPS),
            ("ceilings.copyBandwidth", ceilings?.copyBandwidth), ("bf16FLOPS", bf16FLOPS), ("fp8FLOPS", fp8FLOPS),
            ("memoryBandwidth", memoryBandwidth), ("nvlinkBandwidth", nvlinkBandwidth),
            ("infinibandBandwidth", infinibandBandwidth),
        ]
        for case (let field, let value?) in rates where !(value > 0 && value.isFinite) {
            throw SwitchyardError(.malformedFile, "\(path): \(field) must be a positive number, got \(value)")
        }
        if let sms = smCount, sms <= 0 {
            throw SwitchyardError(.malformedFile, "\(path): smCount must be positive, got \(sms)")
        }
        let fractions: [(String, Double?)] = [
            ("gemmEfficiency", calibration?.gemmEfficiency),
            ("largeTileGEMMEfficiency", calibration?.largeTileGEMMEfficiency),
            ("smallTileGEMMEfficiency", calibration?.smallTileGEMMEfficiency),
            ("weightGradientEfficiency", calibration?.weightGradientEfficiency),
            ("memoryEfficiency", calibration?.memoryEfficiency),
            ("computeMemoryOverlap", calibration?.computeMemoryOverlap),
            ("mxfp8EmulationEfficiency", calibration?.mxfp8EmulationEfficiency),
            ("nvlinkEfficiency", calibration?.nvlinkEfficiency),
            ("infinibandEfficiency", calibration?.infinibandEfficiency),
        ]
        for case (let field, let value?) in fractions where !(value >= 0 && value <= 1) {
            throw SwitchyardError(.malformedFile, "\(path): calibration.\(field) must be in 0...1, got \(value)")
        }
    }

    /// `base` with every field this file sets replaced; `source` names the file in ``Ceilings/source``.
    public func apply(to base: Hardware, source: String) -> Hardware {
        var result = base
        if let value = bf16FLOPS { result.bf16FLOPS = value }
        if let value = fp8FLOPS { result.fp8FLOPS = value }
        if let value = memoryBandwidth { result.memoryBandwidth = value }
        if let value = smCount { result.smCount = value }
        if let value = nvlinkBandwidth { result.nvlink.bandwidth = value }
        if let value = nvlinkLatency { result.nvlink.latency = value }
        if let value = infinibandBandwidth { result.infiniband.bandwidth = value }
        if let value = infinibandLatency { result.infiniband.latency = value }
        if let ceilings {
            if let value = ceilings.bf16GEMMFLOPS { result.ceilings.bf16GEMMFLOPS = value }
            if let value = ceilings.fp8GEMMFLOPS { result.ceilings.fp8GEMMFLOPS = value }
            if let value = ceilings.copyBandwidth { result.ceilings.copyBandwidth = value }
            result.ceilings.source = source
        }
        return result
    }

    /// `base` with every calibration factor this file sets replaced.
    public func apply(to base: Calibration) -> Calibration {
        guard let c = calibration else { return base }
        var result = base
        result.gemmEfficiency = c.gemmEfficiency ?? result.gemmEfficiency
        result.largeTileGEMMEfficiency = c.largeTileGEMMEfficiency ?? result.largeTileGEMMEfficiency
        result.smallTileGEMMEfficiency = c.smallTileGEMMEfficiency ?? result.smallTileGEMMEfficiency
        result.tileOverheadKSteps = c.tileOverheadKSteps ?? result.tileOverheadKSteps
        result.weightGradientEfficiency = c.weightGradientEfficiency ?? result.weightGradientEfficiency
        result.weightGradientTileOverheadKSteps = c.weightGradientTileOverheadKSteps ?? result.weightGradientTileOverheadKSteps
        result.memoryEfficiency = c.memoryEfficiency ?? result.memoryEfficiency
        result.computeMemoryOverlap = c.computeMemoryOverlap ?? result.computeMemoryOverlap
        result.launchOverhead = c.launchOverhead ?? result.launchOverhead
        result.mxfp8EmulationEfficiency = c.mxfp8EmulationEfficiency ?? result.mxfp8EmulationEfficiency
        result.nvlinkEfficiency = c.nvlinkEfficiency ?? result.nvlinkEfficiency
        result.infinibandEfficiency = c.infinibandEfficiency ?? result.infinibandEfficiency
        return result
    }
}

extension Hardware {
    /// This part with the ceilings and rates a JSON file sets (``HardwareFile``).
    public func overridden(byJSONFile path: String) throws -> Hardware {
        try HardwareFile.load(path).apply(to: self, source: path)
    }
}

extension Calibration {
    /// These factors with the `calibration` object of a JSON file (``HardwareFile``) applied.
    public func overridden(byJSONFile path: String) throws -> Calibration {
        try HardwareFile.load(path).apply(to: self)
    }
}

extension Hardware {
    /// A built-in part by name, refined by an optional JSON file of ceilings and calibration.
    ///
    /// ```swift
    /// let (hardware, calibration) = try Hardware.resolve(name: "h100", jsonFile: "bench/hardware/h100-sxm.json")
    /// ```
    public static func resolve(name: String, jsonFile: String?) throws -> (Hardware, Calibration) {
        guard let base = named(name) else {
            let known = all.map(\.name).joined(separator: ", ")
            throw SwitchyardError(.invalidConfiguration, "unknown hardware '\(name)'; known: \(known) (h100, h200, b200, gb200)")
        }
        guard let jsonFile else { return (base, .default) }
        let file = try HardwareFile.load(jsonFile)
        return (file.apply(to: base, source: jsonFile), file.apply(to: .default))
    }
}

extension HardwareFile {
    /// A file that pins a part's ceilings and every calibration factor (what a fit writes).
    ///
    /// ```swift
    /// let file = HardwareFile(hardware: "h100", ceilings: .h100SXM, calibration: fitted)
    /// try file.json().write(toFile: "bench/hardware/h100-sxm-fit.json", atomically: true, encoding: .utf8)
    /// ```
    public init(hardware name: String, ceilings part: Hardware, calibration c: Calibration) {
        hardware = name
        ceilings = CeilingOverrides(
            bf16GEMMFLOPS: part.ceilings.bf16GEMMFLOPS, fp8GEMMFLOPS: part.ceilings.fp8GEMMFLOPS,
            copyBandwidth: part.ceilings.copyBandwidth)
        calibration = CalibrationOverrides(
            gemmEfficiency: c.gemmEfficiency, largeTileGEMMEfficiency: c.largeTileGEMMEfficiency,
            smallTileGEMMEfficiency: c.smallTileGEMMEfficiency, tileOverheadKSteps: c.tileOverheadKSteps,
            weightGradientEfficiency: c.weightGradientEfficiency,
            weightGradientTileOverheadKSteps: c.weightGradientTileOverheadKSteps, memoryEfficiency: c.memoryEfficiency,
            computeMemoryOverlap: c.computeMemoryOverlap, launchOverhead: c.launchOverhead,
            mxfp8EmulationEfficiency: c.mxfp8EmulationEfficiency, nvlinkEfficiency: c.nvlinkEfficiency,
            infinibandEfficiency: c.infinibandEfficiency)
    }

    /// Pretty-printed JSON with sorted keys; fields left `nil` are omitted.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}
