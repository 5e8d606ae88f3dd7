import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Switchyard
import SwitchyardModel

/// `switchyard plan`: recommends EP degree, precision, token rounding and tile for a model on a cluster.
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Recommend EP degree, precision, token rounding and tile for a layer on a cluster.",
        discussion: """
            Examples:
              switchyard plan --shape Qwen3-235B-A22B --gpus-per-node 8 --nodes 4 --objective training
              switchyard plan --shape Qwen3-30B-A3B --gpus-per-node 8 --nodes 1 --objective inference --batch 256
            """)

    enum Objective: String, ExpressibleByArgument, CaseIterable {
        case training, inference
    }

    @Option(help: "A named shape (\(NamedShape.all.map(\.name).joined(separator: ", "))).") var shape: String?
    @Option(help: "T: tokens per GPU per training step (default: the shape's).") var tokens: Int?
    @Option(help: "d: hidden size.") var hidden: Int?
    @Option(help: "n: expert intermediate size.") var intermediate: Int?
    @Option(help: "E: experts.") var experts: Int?
    @Option(name: .customLong("top-k"), help: "K: experts per token.") var topK: Int?
    @Option(help: "Expert activation: swiglu, geglu or relu2.") var activation: String = "swiglu"
    @Option(name: .customLong("gpus-per-node"), help: "GPUs in each NVLink domain (default: the part's, 8 or 72).")
    var gpusPerNode: Int?
    @Option(help: "Nodes in the cluster.") var nodes: Int = 1
    @Option(help: "training (throughput) or inference (latency at --batch).") var objective: Objective = .training
    @Option(help: "Inference batch in tokens, spread over the EP group.") var batch: Int = 256
    @Option(help: "Routing distribution: uniform or zipf:S.") var routing: String = "uniform"
    @Option(help: "Precisions to consider, comma-separated.") var precisions: String = "bf16,fp8,mxfp8"
    @Option(help: "MoE layers each GPU holds; enables the memory check.") var layers: Int?
    @Option(help: "Micro-batches per optimizer step (training): spreads the expert-gradient all-reduce.")
    var microbatches: Int = 8
    @Option(help: "Alternatives to list.") var top: Int = 10
    @OptionGroup var hardware: HardwareOptions
    @Flag(help: "Print JSON instead of tables.") var json = false

    func run() async throws {
        let (part, calibration) = try hardware.resolve()
        let request = try makeRequest(nvlinkDomain: part.nvlinkDomain)
        let plan = try Planner(hardware: part, calibration: calibration).plan(request)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            var trimmed = plan
            trimmed.ranked = Array(plan.ranked.prefix(max(top, 1)))
            print(String(decoding: try encoder.encode(trimmed), as: UTF8.self))
        } else {
            print(render(plan, request: request, hardware: part))
        }
    }

    private func makeRequest(nvlinkDomain: Int) throws -> PlanRequest {
        let named = try shape.map { name in
            guard let found = NamedShape.named(name) else {
                throw ValidationError("unknown shape '\(name)'; known: \(NamedShape.all.map(\.name).joined(separator: ", "))")
            }
            return found
        }
        guard let d = hidden ?? named?.hidden, let n = intermediate ?? named?.intermediate,
              let e = experts ?? named?.experts, let k = topK ?? named?.topK
        else { throw ValidationError("give --shape, or all of --hidden --intermediate --experts --top-k") }
        guard let kind = Activation(rawValue: activation) else {
            throw ValidationError("activation must be swiglu, geglu or relu2, got '\(activation)'")
        }
        let chosen = try precisions.split(separator: ",").map { text in
            guard let p = Precision(rawValue: String(text)) else {
                throw ValidationError("precision '\(text)' is not one of bf16, fp8, mxfp8")
            }
            return p
        }
        return PlanRequest(
            hidden: d, intermediate: n, experts: e, topK: k, gated: kind.isGated,
            tokensPerGPU: tokens ?? named?.tokens ?? 16384,
            cluster: ClusterTopology(gpusPerNode: gpusPerNode ?? nvlinkDomain, nodes: nodes),
            objective: objective == .training ? .training : .inferenceLatency(batchTokens: batch),
            distribution: try RoutingDistribution(parsing: routing), layersPerGPU: layers, precisions: chosen,
            microbatchesPerStep: microbatches)
    }

    private func render(_ plan: Plan, request: PlanRequest, hardware: Hardware) -> String {
        let best = plan.best
        let goal = objective == .training
            ? "training throughput, \(request.tokensPerGPU) tokens per GPU, \(microbatches) micro-batches per step"
            : "inference latency, batch \(batch) tokens"
        var lines = [
            "\(shape ?? "custom layer") d=\(request.hidden) n=\(request.intermediate) E=\(request.experts) K=\(request.topK) "
                + "on \(request.cluster.nodes)×\(request.cluster.gpusPerNode) \(hardware.name); objective: \(goal)",
            "",
            "Recommended: EP \(best.expertParallel)\(best.nodesPerGroup > 1 ? " over \(best.nodesPerGroup) nodes (\(best.algorithm) all-to-all)" : ""), "
                + "\(best.precision.rawValue), token rounding \(best.tokenRounding ? "on" : "off"), tile \(best.tile), "
                + "\(best.chunks) chunk(s)\(best.replicasPerRank > 0 ? ", \(best.replicasPerRank) replica slot(s) per rank" : "")",
            "  predicted \(Units.seconds(best.seconds)) per layer \(objective == .training ? "micro-batch (fwd+bwd+grad sync)" : "forward"), "
                + "\(Units.fixed(best.tflopsPerGPU, 1)) TFLOP/s per GPU",
            "",
            "Top alternatives:",
            candidateTable(Array(plan.ranked.prefix(max(top, 1))), best: best).render(),
            "",
            "Why: the best configuration for each value of each decision",
            whyTable(plan).render(),
        ]
        if !plan.excluded.isEmpty {
            lines += ["", "Excluded:"] + plan.excluded.prefix(8).map { "  " + $0 }
        }
        if request.layersPerGPU == nil {
            lines += ["", "(memory not checked: pass --layers with the MoE layers each GPU holds)"]
        }
        return lines.joined(separator: "\n")
    }

    private func candidateTable(_ candidates: [PlanCandidate], best: PlanCandidate) -> TextTable {
        var table = TextTable(
            ["#", "EP", "nodes", "a2a", "prec", "round", "tile", "chunks", "repl", "forward", "backward", "a2a time",
             "grad sync", "time", "vs best", "TFLOP/s/GPU", "imbal", "mem/GPU"],
            rightAligned: [0, 1, 2, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17])
        for (index, c) in candidates.enumerated() {
            table.append([
                "\(index + 1)", "\(c.expertParallel)", "\(c.nodesPerGroup)", c.expertParallel > 1 ? c.algorithm.rawValue : "-",
                c.precision.rawValue, c.tokenRounding ? "on" : "off", "\(c.tile)", "\(c.chunks)", "\(c.replicasPerRank)",
                Units.seconds(c.forwardSeconds), objective == .training ? Units.seconds(c.backwardSeconds) : "-",
                Units.seconds(c.communicationSeconds), objective == .training ? Units.seconds(c.gradientSyncSeconds) : "-",
                Units.seconds(c.seconds),
                "+" + Units.fixed(100 * (c.seconds / best.seconds - 1), 1) + "%", Units.fixed(c.tflopsPerGPU, 1),
                Units.fixed(c.imbalance, 2), c.memoryBytesPerGPU.map(Units.gibibytes) ?? "-",
            ])
        }
        return table
    }

    private func whyTable(_ plan: Plan) -> TextTable {
        var table = TextTable(["decision", "value", "best time with it", "vs best", "a2a time", "its other choices"],
                              rightAligned: [2, 3, 4])
        var last = ""
        for alternative in plan.alternatives {
            if !last.isEmpty, last != alternative.decision { table.appendRule() }
            last = alternative.decision
            let c = alternative.candidate
            table.append([
                alternative.decision, alternative.value, Units.seconds(c.seconds),
                alternative.slowdown == 0 ? "best" : "+" + Units.fixed(100 * alternative.slowdown, 1) + "%",
                Units.seconds(c.communicationSeconds),
                "EP \(c.expertParallel), \(c.precision.rawValue), rounding \(c.tokenRounding ? "on" : "off"), \(c.tile), "
                    + "\(c.chunks) chunk(s)",
            ])
        }
        return table
    }
}
