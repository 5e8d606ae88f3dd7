import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard
import SwitchyardModel

/// `switchyard model --fit RESULTS.json --out FILE`: fit the calibration factors to `switchyard bench` results.
struct ModelFitOptions: ParsableArguments {
    @Option(help: "Bench results (switchyard bench --json) to fit the calibration to; repeat for several files.")
    var fit: [String] = []
    @Option(help: "Where --fit writes the calibration JSON (the bench/hardware/*.json format).") var out: String?
    @Option(name: .customLong("hold-out"), help: "Comma-separated configs the fit leaves out (reported as held out).")
    var holdOut: String = ""
    @Option(
        name: .customLong("fit-factors"),
        help: """
            Comma-separated factors the fit moves (\(CalibrationFactor.allCases.map(\.rawValue).joined(separator: ", "))). \
            The default leaves gemmEfficiency (128×128 tiles) at its start value: on Switchyard's kernels only the \
            router's small GEMMs use that tile, too little time to pin it down.
            """)
    var fitFactors: String = CalibrationFactor.allCases.filter { $0 != .gemmEfficiency }.map(\.rawValue).joined(separator: ",")

    var requested: Bool { !fit.isEmpty }

    /// The bench rows of every `--fit` file.
    func rows() throws -> [MeasuredLayer] { try fit.flatMap { try MeasuredLayer.load($0) } }

    /// Fits `rows` (``rows()``), prints the comparison as a Markdown table and writes `--out`.
    func run(rows: [MeasuredLayer], hardware part: Hardware, start: Calibration, hardwareName: String) throws {
        var factors: [CalibrationFactor] = []
        for trimmed in Self.names(fitFactors) {
            guard let factor = CalibrationFactor(rawValue: trimmed) else {
                throw ValidationError("unknown factor '\(trimmed)'; known: \(CalibrationFactor.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            factors.append(factor)
        }
        let held = Set(Self.names(holdOut))
        if let unknown = held.first(where: { name in !rows.contains { $0.config == name } }) {
            throw ValidationError("--hold-out names '\(unknown)', which no results file holds")
        }
        let training = rows.filter { !held.contains($0.config) }
        guard !training.isEmpty else { throw ValidationError("--hold-out leaves no configuration to fit") }
        let fitter = CalibrationFit(hardware: part, start: start, factors: factors)
        let calibration = fitter.fit(training)
        let errors = fitter.errors(rows, calibration: calibration, fitted: Set(training.map(\.config)))
        print(Self.markdown(errors))
        print("")
        for factor in factors {
            print("\(factor.rawValue): \(factor.value(in: calibration))")
        }
        if let out {
            let file = HardwareFile(hardware: hardwareName, ceilings: part, calibration: calibration)
            do {
                try file.json().write(toFile: out, atomically: true, encoding: .utf8)
            } catch {
                throw SwitchyardError(.io, "cannot write \(out): \(error)")
            }
            print("wrote \(out)")
        }
    }

    /// The entries of a comma-separated list, blanks removed.
    static func names(_ list: String) -> [String] {
        list.split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }.filter { !$0.isEmpty }
    }

    static func markdown(_ errors: [PredictionError]) -> String {
        func ms(_ value: Double?) -> String { value.map { Units.fixed($0, 3) } ?? "–" }
        func percent(_ value: Double?) -> String { value.map { ($0 >= 0 ? "+" : "") + Units.fixed($0, 1) + "%" } ?? "–" }
        var lines = [
            "| config | fit | measured fwd ms | predicted fwd ms | fwd error | measured bwd ms | predicted bwd ms | bwd error |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for e in errors {
            lines.append(
                "| \(e.config) | \(e.fitted ? "fit" : "held out") | \(ms(e.measuredForwardMs)) | \(ms(e.predictedForwardMs)) | "
                    + "\(percent(e.forwardErrorPercent)) | \(ms(e.measuredBackwardMs)) | \(ms(e.predictedBackwardMs)) | "
                    + "\(percent(e.backwardErrorPercent)) |")
        }
        let all = errors.flatMap { [abs($0.forwardErrorPercent)] + ($0.backwardErrorPercent.map { [abs($0)] } ?? []) }
        let heldOut = errors.filter { !$0.fitted }.flatMap { [abs($0.forwardErrorPercent)] + ($0.backwardErrorPercent.map { [abs($0)] } ?? []) }
        lines.append("")
        lines.append("worst |error| \(Units.fixed(all.max() ?? 0, 1))% over \(all.count) predictions"
            + (heldOut.isEmpty ? "" : "; held out: worst \(Units.fixed(heldOut.max() ?? 0, 1))% over \(heldOut.count)"))
        return lines.joined(separator: "\n")
    }
}
