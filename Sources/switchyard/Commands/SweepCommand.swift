import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard
import SwitchyardModel

/// `switchyard sweep`: SonicMoE's iso-FLOP sparsity study, predicted: CSV and SVG.
struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Predict TFLOP/s and memory over granularity d/n and activation ratio K/E at iso-FLOPs.",
        discussion: """
            T, d and K·n come from --base (a named shape) unless given. Writes sweep.csv and sweep.svg into --out.
              switchyard sweep --out bench/results/sweep
            """)

    @Option(help: "Named shape giving T, d and K·n.") var base: String = "30B-n512"
    @Option(help: "T: tokens.") var tokens: Int?
    @Option(help: "d: hidden size.") var hidden: Int?
    @Option(name: .customLong("active-intermediate"), help: "K·n, held fixed (iso-FLOPs).") var activeIntermediate: Int?
    @Option(help: "Granularities d/n, comma-separated.") var granularities: String = "1,2,4,8,16,32"
    @Option(name: .customLong("experts-per-choice"), help: "Values of E/K (activation ratio 1/value), comma-separated.")
    var expertsPerChoice: String = "2,4,8,16,32,64"
    @Option(help: "Operand precision: bf16, fp8 or mxfp8.") var precision: String = "bf16"
    @Flag(name: .customLong("token-rounding"), help: "Round each expert's rows to the M tile.") var tokenRounding = false
    @OptionGroup var hardware: HardwareOptions
    @Option(help: "Folder for sweep.csv and sweep.svg.") var out: String

    func run() async throws {
        guard let shape = NamedShape.named(base) else {
            throw ValidationError("unknown shape '\(base)'; known: \(NamedShape.all.map(\.name).joined(separator: ", "))")
        }
        guard let chosen = Precision(rawValue: precision) else {
            throw ValidationError("precision must be bf16, fp8 or mxfp8, got '\(precision)'")
        }
        let (part, calibration) = try hardware.resolve()
        var sweep = SparsitySweep(base: shape, precision: chosen)
        sweep.tokens = tokens ?? sweep.tokens
        sweep.hidden = hidden ?? sweep.hidden
        sweep.activeIntermediate = activeIntermediate ?? sweep.activeIntermediate
        sweep.granularities = try integers(granularities, option: "--granularities")
        sweep.expertsPerChoice = try integers(expertsPerChoice, option: "--experts-per-choice")
        sweep.tokenRounding = tokenRounding
        guard sweep.tokens > 0, sweep.hidden > 0, sweep.activeIntermediate > 0 else {
            throw ValidationError("tokens, hidden and active intermediate must be positive")
        }
        let points = sweep.run(PerformanceModel(hardware: part, calibration: calibration))
        guard !points.isEmpty else {
            throw ValidationError("no granularity gives a whole n = d/g that divides K·n = \(sweep.activeIntermediate)")
        }
        let title = "Iso-FLOP sweep on \(part.name), \(chosen.rawValue): T=\(sweep.tokens) d=\(sweep.hidden) "
            + "K·n=\(sweep.activeIntermediate)"
        let folder = URL(fileURLWithPath: out)
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(SweepReport.csv(points).utf8).write(to: folder.appendingPathComponent("sweep.csv"))
            try Data(SweepReport.svg(points, title: title).utf8).write(to: folder.appendingPathComponent("sweep.svg"))
        } catch {
            throw ValidationError("cannot write into \(out): \(error)")
        }
        var table = TextTable(["d/n", "n", "E", "K", "fwd TFLOP/s", "bwd TFLOP/s", "peak act."], rightAligned: [0, 1, 2, 3, 4, 5, 6])
        for p in points {
            table.append([
                Units.fixed(p.granularity, 0), "\(p.intermediate)", "\(p.experts)", "\(p.topK)",
                Units.fixed(p.forwardTFLOPS, 1), Units.fixed(p.backwardTFLOPS, 1), Units.gibibytes(p.peakActivationBytes),
            ])
        }
        print(title)
        print(table.render())
        print("wrote \(out)/sweep.csv and \(out)/sweep.svg (\(points.count) points)")
    }

    private func integers(_ text: String, option: String) throws -> [Int] {
        try text.split(separator: ",").map {
            guard let value = Int($0), value > 0 else {
                throw ValidationError("\(option) takes positive integers separated by commas, got '\(text)'")
            }
            return value
        }
    }
}
