import ArgumentParser
import Switchyard
import SwitchyardIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one MoE layer forward (and backward) on a loaded or generated layer; save the results.",
        discussion: """
            The layer comes from --weights (a Switchyard layer file), --hf-checkpoint with --layer and --arch \
            (the MoE block of one decoder layer of a Hugging Face checkpoint), or is generated from --shape and \
            the size options with --seed. The input X is --input or random [--tokens, d]; with --backward, dO is \
            --output-grad or random. Writes X, O (and dO, dX, dWr, dW1, dW2 with --backward) to --out.
            With no arguments: shape 7B-n256, 1024 tokens, seed 0, written to switchyard-run.safetensors.
            """)

    @OptionGroup var devices: DeviceOptions

    @Option(help: "A layer saved by Switchyard (safetensors with router.weight, experts.w1, ...).")
    var weights: String?
    @Option(help: "A Hugging Face checkpoint: a directory of .safetensors shards (and config.json).")
    var hfCheckpoint: String?
    @Option(help: "Decoder layer of --hf-checkpoint whose MoE block to load.") var layer: Int = 0
    @Option(help: "Checkpoint naming: \(CheckpointArchitecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var arch: String?

    @Option(help: "Named shape to generate (\(NamedShape.all.map(\.name).joined(separator: ", "))).")
    var shape: String?
    @Option(help: "d: model width (overrides --shape).") var hidden: Int?
    @Option(help: "n: expert intermediate width (overrides --shape).") var intermediate: Int?
    @Option(help: "E: routed experts (overrides --shape).") var experts: Int?
    @Option(help: "K: experts per token (overrides --shape).") var topK: Int?
    @Option(help: "Router of a generated layer: softmax, softmax-norm, mixtral, sigmoid-bias.")
    var router: String = "softmax-norm"
    @Option(help: "sigmoid-bias: expert groups (must divide E).") var groups: Int = 1
    @Option(help: "sigmoid-bias: groups kept per token.") var topKGroups: Int = 1
    @Option(help: "sigmoid-bias: routed scaling factor.") var routedScaling: Double = 1
    @Option(help: "Seed of the generated weights, input and output gradient.") var seed: UInt64 = 0

    @Option(help: "T: tokens of the random input (default 1024).") var tokens: Int?
    @Option(help: "Input X [T, d] from a safetensors file (tensor \"input\", or its only tensor).")
    var input: String?
    @Flag(help: "Also run the backward pass.") var backward = false
    @Option(help: "dO [T, d] from a safetensors file (tensor \"output_grad\", or its only tensor); implies --backward.")
    var outputGrad: String?

    @Option(help: "Where to write the results.") var out: String = "switchyard-run.safetensors"
    @Option(help: "Element type of the written results: F32 or BF16.") var outDtype: String = "F32"
    @Option(help: "Also save the layer's weights here (Switchyard's format, F32).") var saveWeights: String?

    func validate() throws {
        let sources = [weights != nil, hfCheckpoint != nil, generatesLayer].filter { $0 }.count
        guard sources <= 1 else {
            throw ValidationError("choose one layer source: --weights, --hf-checkpoint, or --shape/size options")
        }
        if hfCheckpoint != nil, arch == nil { throw ValidationError("--hf-checkpoint needs --arch") }
        if tokens != nil, input != nil { throw ValidationError("give --tokens or --input, not both") }
        if let tokens, tokens <= 0 { throw ValidationError("--tokens must be positive, got \(tokens)") }
        guard ["F32", "BF16"].contains(outDtype.uppercased()) else {
            throw ValidationError("--out-dtype must be F32 or BF16, got \(outDtype)")
        }
    }

    private var generatesLayer: Bool {
        shape != nil || hidden != nil || intermediate != nil || experts != nil || topK != nil
    }

    func run() async throws {
        let layer = try loadLayer()
        let config = layer.config
        let backend = try makeBackend(devices.device)
        print("layer   d \(config.hidden), n \(config.intermediate), E \(config.experts), K \(config.topK), "
            + "\(config.activation.rawValue), router \(config.router.kind)"
            + (config.sharedExperts > 0 ? ", \(config.sharedExperts) shared (n \(config.sharedIntermediate))" : ""))
        print("device  \(backend.description)")
        if let saveWeights {
            try layer.save(to: saveWeights)
            print("weights saved to \(saveWeights)")
        }
        let x = try loadInput(hidden: config.hidden)
        let storage: SafetensorsDType = outDtype.uppercased() == "BF16" ? .bfloat16 : .float32
        var results = SafetensorsWriter(metadata: [
            LayerTensorNames.configKey: String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
            "switchyard.device": backend.description, "switchyard.seed": String(seed),
        ])
        try results.add(LayerTensorNames.input, x, as: storage)

        let clock = ContinuousClock()
        var start = clock.now
        let forward = try backend.forward(x, weights: layer)
        print("forward \(x.shape) → \(forward.output.shape) in \(milliseconds(clock.now - start))")
        printRouting(forward)
        try results.add(LayerTensorNames.output, forward.output, as: storage)

        if backward || outputGrad != nil {
            let dO = try loadOutputGradient(like: forward.output)
            start = clock.now
            let gradients = try backend.backward(dO, input: x, weights: layer, forward: forward)
            print("backward in \(milliseconds(clock.now - start)); loss ⟨dO, O⟩ + coefficients·(aux, z) = "
                + format(loss(forward, dO, config.router)))
            for (name, tensor) in [("dX", gradients.input), ("dWr", gradients.router), ("dW1", gradients.w1), ("dW2", gradients.w2)] {
                print("  \(name) \(tensor.shape) ‖·‖ \(format(norm(tensor)))")
            }
            try results.add(LayerTensorNames.outputGradient, dO, as: storage)
            try results.addGradients(gradients, sharedExperts: config.sharedExperts, as: storage)
        }
        try results.write(to: out)
        print("results written to \(out)")
    }

    /// The layer from --weights, --hf-checkpoint, or generated (7B-n256 when nothing is given).
    private func loadLayer() throws -> MoEWeights<Float> {
        if let weights { return try MoEWeights<Float>(contentsOf: weights) }
        if let hfCheckpoint, let arch {
            guard let architecture = CheckpointArchitecture(rawValue: arch.lowercased()) else {
                throw ValidationError(
                    "--arch must be one of \(CheckpointArchitecture.allCases.map(\.rawValue).joined(separator: ", ")), got \(arch)")
            }
            return try HFCheckpoint(files: [hfCheckpoint]).loadMoELayer(layer, architecture: architecture)
        }
        let shapeName = shape ?? "7B-n256"
        guard let named = NamedShape.named(shapeName) else {
            throw ValidationError("unknown --shape \(shapeName); known: \(NamedShape.all.map(\.name).joined(separator: ", "))")
        }
        let config = try MoEConfig(
            hidden: hidden ?? named.hidden, intermediate: intermediate ?? named.intermediate,
            experts: experts ?? named.experts, topK: topK ?? named.topK, router: RouterConfig(kind: try routerKind()))
        return MoEWeights<Float>.random(config: config, seed: seed)
    }

    private func routerKind() throws -> RouterKind {
        switch router.lowercased() {
        case "softmax": return .softmaxTopK(renormalize: false)
        case "softmax-norm": return .softmaxTopK(renormalize: true)
        case "mixtral": return .mixtral
        case "sigmoid-bias": return .sigmoidBias(groups: groups, topKGroups: topKGroups, scaling: routedScaling)
        default: throw ValidationError("--router must be softmax, softmax-norm, mixtral or sigmoid-bias, got \(router)")
        }
    }

    private func loadInput(hidden: Int) throws -> HostTensor {
        guard let input else {
            var generator = SeededGenerator(seed: seed &+ 1)
            return .randomNormal(shape: [tokens ?? 1024, hidden], generator: &generator)
        }
        let x = try SafetensorsFile(path: input).tensor(preferring: LayerTensorNames.input)
        guard x.shape.count == 2, x.shape[1] == hidden else {
            throw SwitchyardError(.shapeMismatch, "\(input): input must have shape [T, \(hidden)], got \(x.shape)")
        }
        return x
    }

    private func loadOutputGradient(like output: HostTensor) throws -> HostTensor {
        guard let outputGrad else {
            var generator = SeededGenerator(seed: seed &+ 2)
            return .randomNormal(shape: output.shape, generator: &generator)
        }
        let dO = try SafetensorsFile(path: outputGrad).tensor(preferring: LayerTensorNames.outputGradient)
        try dO.requireShape(output.shape, "\(outputGrad): output gradient")
        return dO
    }

    private func printRouting(_ forward: LayerForward<Float>) {
        let counts = forward.plan.counts.map(Int.init)
        let mean = Double(counts.reduce(0, +)) / Double(max(counts.count, 1))
        print("  expert load min \(counts.min() ?? 0), max \(counts.max() ?? 0), mean \(format(mean)); "
            + "aux loss \(format(forward.auxLoss)), z-loss \(format(forward.zLoss)); ‖O‖ \(format(norm(forward.output)))")
    }

    /// The objective backward differentiates: ⟨dO, O⟩ + auxCoef·aux + zCoef·z.
    private func loss(_ forward: LayerForward<Float>, _ dO: HostTensor, _ router: RouterConfig) -> Double {
        var inner = 0.0
        for (g, o) in zip(dO.scalars, forward.output.scalars) { inner += Double(g) * Double(o) }
        return inner + router.auxLossCoefficient * forward.auxLoss + router.zLossCoefficient * forward.zLoss
    }

    private func norm(_ tensor: HostTensor) -> Double {
        tensor.scalars.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    private func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return format(Double(seconds) * 1e3 + Double(attoseconds) * 1e-15) + " ms"
    }
}
