import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard
import SwitchyardModel

/// `switchyard model`: the predicted kernel-by-kernel breakdown of one MoE layer.
struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Predict where the time of one MoE layer goes (no GPU needed).",
        discussion: """
            Examples:
              switchyard model --shape 7B-n256 --hardware h100
              switchyard model --tokens 8192 --hidden 4096 --intermediate 1536 --experts 128 --top-k 8 \\
                --precision fp8 --ep 8 --nodes 2 --json
              switchyard model --fit bench/results/DIR/switchyard.json --ceilings bench/hardware/h100-sxm.json \\
                --out bench/hardware/h100-sxm-fit.json
            """)

    @OptionGroup var layer: LayerOptions
    @OptionGroup var hardware: HardwareOptions
    @OptionGroup var parallel: ParallelOptions
    @OptionGroup var fitting: ModelFitOptions
    @Flag(help: "Print JSON instead of tables.") var json = false

    func run() async throws {
        if fitting.requested {
            let rows = try fitting.rows()
            // The part the results were measured on, unless --hardware names it (a conflict is an error).
            let name = try MeasuredLayer.part(for: rows, requested: hardware.hardware)
            let (part, calibration) = try Hardware.resolve(name: name, jsonFile: hardware.ceilings)
            try fitting.run(rows: rows, hardware: part, start: calibration, hardwareName: name)
            return
        }
        let (part, calibration) = try hardware.resolve()
        let workload = try layer.workload()
        try workload.tile.validate(for: part, precision: workload.precision)
        let config = try parallel.config(experts: workload.experts)
        let estimate = try ExpertParallelModel(hardware: part, calibration: calibration)
            .estimate(workload, parallel: config)
        let report = ModelReport(workload: workload, hardware: part, config: config, estimate: estimate)
        if json {
            print(try report.json())
        } else {
            print(report.text(title: layer.title, routerLabel: layer.router.rawValue))
        }
    }
}

/// The layer options shared by `model` and `plan`: a named shape or explicit sizes.
struct LayerOptions: ParsableArguments {
    enum RouterChoice: String, ExpressibleByArgument, CaseIterable {
        case softmax, mixtral, sigmoid
    }

    @Option(help: "A named shape (\(NamedShape.all.map(\.name).joined(separator: ", "))).") var shape: String?
    @Option(help: "T: tokens per GPU.") var tokens: Int?
    @Option(help: "d: hidden size.") var hidden: Int?
    @Option(help: "n: expert intermediate size.") var intermediate: Int?
    @Option(help: "E: experts.") var experts: Int?
    @Option(name: .customLong("top-k"), help: "K: experts per token.") var topK: Int?
    @Option(help: "Expert activation: swiglu, geglu or relu2.") var activation: String = "swiglu"
    @Option(help: "Router (all read the logits once and write K indices and scores): softmax, mixtral, sigmoid.")
    var router: RouterChoice = .softmax
    @Option(help: "Operand precision: bf16, fp8 (1×128 / 128×128 scales) or mxfp8.") var precision: String = "bf16"
    @Flag(name: .customLong("token-rounding"), help: "Round each expert's rows to a multiple of the M tile.")
    var tokenRounding = false
    @Option(help: "GEMM tile MxNxK[xSTAGES].") var tile: String = "128x128x64x4"

    var title: String { shape.flatMap { NamedShape.named($0)?.name } ?? "custom layer" }

    func workload() throws -> LayerWorkload {
        var base = LayerWorkload(tokens: 0, hidden: 0, intermediate: 0, experts: 0, topK: 0)
        if let shape {
            guard let named = NamedShape.named(shape) else {
                throw ValidationError("unknown shape '\(shape)'; known: \(NamedShape.all.map(\.name).joined(separator: ", "))")
            }
            base = LayerWorkload(shape: named)
        }
        if let tokens { base.tokens = tokens }
        if let hidden { base.hidden = hidden }
        if let intermediate { base.intermediate = intermediate }
        if let experts { base.experts = experts }
        if let topK { base.topK = topK }
        guard let kind = Activation(rawValue: activation) else {
            throw ValidationError("activation must be swiglu, geglu or relu2, got '\(activation)'")
        }
        guard let chosen = Precision(rawValue: precision) else {
            throw ValidationError("precision must be bf16, fp8 or mxfp8, got '\(precision)'")
        }
        base.gated = kind.isGated
        base.precision = chosen
        base.tokenRounding = tokenRounding
        base.tile = try TileConfig(parsing: tile)
        if shape == nil, [tokens, hidden, intermediate, experts, topK].contains(where: { $0 == nil }) {
            throw ValidationError("give --shape, or all of --tokens --hidden --intermediate --experts --top-k")
        }
        try base.validate()
        return base
    }
}

/// `--hardware` and `--ceilings`.
struct HardwareOptions: ParsableArguments {
    @Option(help: "GPU: h100, h200, b200 or gb200 (default: h100; with --fit, the GPU the results were measured on).")
    var hardware: String?
    @Option(help: "JSON file of measured ceilings and calibration factors (see bench/hardware/).")
    var ceilings: String?

    func resolve() throws -> (Hardware, Calibration) {
        try Hardware.resolve(name: hardware ?? "h100", jsonFile: ceilings)
    }
}

/// Expert-parallel options of `model`.
struct ParallelOptions: ParsableArguments {
    @Option(help: "Expert-parallel degree (GPUs sharing the experts).") var ep: Int = 1
    @Option(help: "Nodes the EP group spans (EP/nodes GPUs per node).") var nodes: Int = 1
    @Option(name: .customLong("all-to-all"), help: "flat or hierarchical.") var allToAll: String = "flat"
    @Option(help: "Routing distribution: uniform or zipf:S.") var routing: String = "uniform"
    @Option(help: "File of measured per-expert counts (overrides --routing).") var counts: String?
    @Option(help: "Extra expert slots per rank for copies of hot experts.") var replicas: Int = 0
    @Option(help: "Chunks that overlap all-to-alls with expert compute.") var chunks: Int = 1

    func config(experts: Int) throws -> ExpertParallelConfig {
        guard let algorithm = AllToAllAlgorithm(rawValue: allToAll) else {
            throw ValidationError("--all-to-all must be flat or hierarchical, got '\(allToAll)'")
        }
        let distribution: RoutingDistribution
        if let counts {
            let text: String
            do {
                text = try String(contentsOfFile: counts, encoding: .utf8)
            } catch {
                throw ValidationError("cannot read counts file \(counts): \(error)")
            }
            distribution = .measured(try RoutingDistribution.parseCounts(text))
        } else {
            distribution = try RoutingDistribution(parsing: routing)
        }
        return ExpertParallelConfig(
            topology: try ClusterTopology(expertParallel: ep, nodes: nodes), algorithm: algorithm,
            distribution: distribution, replicasPerRank: replicas, chunks: chunks)
    }
}

/// What `model` prints, as text or JSON.
struct ModelReport: Encodable {
    var hardware: String
    var ceilingsSource: String
    var workload: LayerWorkload
    var expertParallel: Int
    var nodes: Int
    var allToAll: String
    var chunks: Int
    var forwardSeconds: Double
    var backwardSeconds: Double
    var forwardTFLOPS: Double
    var backwardTFLOPS: Double
    var cachedActivationBytes: Double
    var peakActivationBytes: Double
    var busiestRank: Int
    var imbalance: Double
    var kernels: [KernelEstimate]
    var forwardPipeline: PipelineTimes
    var backwardPipeline: PipelineTimes

    init(workload: LayerWorkload, hardware: Hardware, config: ExpertParallelConfig, estimate: ExpertParallelEstimate) {
        self.hardware = hardware.name
        ceilingsSource = hardware.ceilings.source
        self.workload = workload
        expertParallel = config.topology.gpus
        nodes = config.topology.nodes
        allToAll = config.algorithm.rawValue
        chunks = config.chunks
        forwardSeconds = estimate.forwardSeconds
        backwardSeconds = estimate.backwardSeconds
        forwardTFLOPS = workload.forwardFLOPs / estimate.forwardSeconds / 1e12
        backwardTFLOPS = workload.backwardFLOPs / estimate.backwardSeconds / 1e12
        cachedActivationBytes = estimate.layer.cachedActivationBytes
        peakActivationBytes = estimate.layer.peakActivationBytes
        busiestRank = estimate.busiestRank
        imbalance = estimate.imbalance
        kernels = EstimateReport.ordered(estimate)
        forwardPipeline = estimate.forwardPipeline
        backwardPipeline = estimate.backwardPipeline
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text(title: String, routerLabel: String) -> String {
        let w = workload
        var lines = [
            "\(title) on \(hardware)  (ceilings: \(ceilingsSource))",
            "T=\(w.tokens) d=\(w.hidden) n=\(w.intermediate) E=\(w.experts) K=\(w.topK) \(w.gated ? "gated" : "ungated"), "
                + "router \(routerLabel), \(w.precision.rawValue), tile \(w.tile), token rounding \(w.tokenRounding ? "on" : "off")",
        ]
        if expertParallel > 1 {
            lines.append(
                "EP \(expertParallel) over \(nodes) node(s), \(allToAll) all-to-all, \(chunks) chunk(s); "
                    + "busiest rank \(busiestRank), imbalance \(Units.fixed(imbalance, 2))×")
        }
        lines += ["", EstimateReport.table(kernels).render(), ""]
        var totals = TextTable(["", "time", "TFLOP/s", "expert FLOPs"], rightAligned: [1, 2, 3])
        totals.append(["forward", Units.seconds(forwardSeconds), Units.fixed(forwardTFLOPS, 1), Units.flops(w.forwardFLOPs)])
        totals.append(["backward", Units.seconds(backwardSeconds), Units.fixed(backwardTFLOPS, 1), Units.flops(w.backwardFLOPs)])
        let total = forwardSeconds + backwardSeconds
        totals.append([
            "total", Units.seconds(total), Units.fixed((w.forwardFLOPs + w.backwardFLOPs) / total / 1e12, 1),
            Units.flops(w.forwardFLOPs + w.backwardFLOPs),
        ])
        lines.append(totals.render())
        if chunks > 1 {
            for (name, p) in [("forward", forwardPipeline), ("backward", backwardPipeline)] {
                lines.append(
                    "\(name) pipeline per chunk: dispatch \(Units.seconds(p.dispatchSeconds)), experts "
                        + "\(Units.seconds(p.computeSeconds)), combine \(Units.seconds(p.combineSeconds)) → "
                        + "\(Units.seconds(p.totalSeconds)) for \(p.chunks) chunks")
            }
        }
        lines.append(
            "activation memory: cached for backward \(Units.gibibytes(cachedActivationBytes)) (H + routing metadata), "
                + "peak with transients \(Units.gibibytes(peakActivationBytes))")
        return lines.joined(separator: "\n")
    }
}
