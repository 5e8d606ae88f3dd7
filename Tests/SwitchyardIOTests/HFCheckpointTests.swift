import Switchyard
import SwitchyardIO
import Testing

/// One MoE block in Hugging Face layout (Linear weights are [out, in]), random, d = 8, n = 4, E = 4.
private struct SyntheticBlock {
    static let (hidden, intermediate, experts) = (8, 4, 4)
    var router: Tensor<Float>  // [E, d]
    var gate: [Tensor<Float>]  // [n, d] each
    var up: [Tensor<Float>]  // [n, d]
    var down: [Tensor<Float>]  // [d, n]
    var bias: Tensor<Float>  // [E]
    var shared: (gate: Tensor<Float>, up: Tensor<Float>, down: Tensor<Float>)  // [ns, d], [ns, d], [d, ns]

    init(seed: UInt64, sharedIntermediate: Int = 8) {
        var g = SeededGenerator(seed: seed)
        let (d, n, e) = (Self.hidden, Self.intermediate, Self.experts)
        router = randomTensor([e, d], &g)
        gate = (0..<e).map { _ in randomTensor([n, d], &g) }
        up = (0..<e).map { _ in randomTensor([n, d], &g) }
        down = (0..<e).map { _ in randomTensor([d, n], &g) }
        bias = randomTensor([e], &g)
        shared = (randomTensor([sharedIntermediate, d], &g), randomTensor([sharedIntermediate, d], &g),
                  randomTensor([d, sharedIntermediate], &g))
    }

    /// (name, tensor) pairs in the architecture's naming for decoder layer `layer`.
    func named(_ architecture: CheckpointArchitecture, layer: Int) -> [(String, Tensor<Float>)] {
        let block = architecture == .mixtral ? "model.layers.\(layer).block_sparse_moe." : "model.layers.\(layer).mlp."
        var out = [(block + "gate.weight", router)]
        for e in 0..<Self.experts {
            let base = block + "experts.\(e)."
            if architecture == .mixtral {
                out += [(base + "w1.weight", gate[e]), (base + "w3.weight", up[e]), (base + "w2.weight", down[e])]
            } else {
                out += [(base + "gate_proj.weight", gate[e]), (base + "up_proj.weight", up[e]), (base + "down_proj.weight", down[e])]
            }
        }
        if architecture == .deepseekV3 {
            out += [
                (block + "gate.e_score_correction_bias", bias), (block + "shared_experts.gate_proj.weight", shared.gate),
                (block + "shared_experts.up_proj.weight", shared.up), (block + "shared_experts.down_proj.weight", shared.down),
            ]
        }
        return out
    }
}

/// Writes `tensors` round-robin over two shards in `directory`, stored as `dtype`.
private func writeShards(_ tensors: [(String, Tensor<Float>)], in directory: TemporaryDirectory, as dtype: SafetensorsDType) throws {
    var shards = [SafetensorsWriter(metadata: ["format": "pt"]), SafetensorsWriter(metadata: ["format": "pt"])]
    for (index, (name, tensor)) in tensors.enumerated() { try shards[index % 2].add(name, tensor, as: dtype) }
    try shards[0].write(to: directory.file("model-00001-of-00002.safetensors"))
    try shards[1].write(to: directory.file("model-00002-of-00002.safetensors"))
}

private func configJSON(_ architecture: CheckpointArchitecture) -> String {
    switch architecture {
    case .mixtral:
        #"{"hidden_size": 8, "intermediate_size": 4, "num_local_experts": 4, "num_experts_per_tok": 2, "hidden_act": "silu"}"#
    case .qwen3:
        #"{"hidden_size": 8, "moe_intermediate_size": 4, "num_experts": 4, "num_experts_per_tok": 2}"#
    case .olmoe:
        #"{"intermediate_size": 4, "num_experts": 4, "num_experts_per_tok": 3}"#
    case .deepseekV3:
        #"{"n_routed_experts": 4, "moe_intermediate_size": 4, "n_shared_experts": 2, "n_group": 2, "topk_group": 1, "routed_scaling_factor": 2.5, "num_experts_per_tok": 2, "scoring_func": "sigmoid"}"#
    }
}

/// Checks that a loaded layer holds `block` transposed and stacked, element by element: Wr[i, e] = gate[e, i];
/// W1[e][i, j] = gate_proj[j, i], W1[e][i, n + j] = up_proj[j, i]; W2[e][j, i] = down_proj[i, j].
private func expectMapped(_ weights: MoEWeights<Float>, _ block: SyntheticBlock, rounding: (Float) -> Float = { $0 }) {
    let (d, n, experts) = (SyntheticBlock.hidden, SyntheticBlock.intermediate, SyntheticBlock.experts)
    var mismatches = 0
    for i in 0..<d {
        for e in 0..<experts where weights.router.scalars[i * experts + e] != rounding(block.router.scalars[e * d + i]) {
            mismatches += 1
        }
    }
    for e in 0..<experts {
        for i in 0..<d {
            for j in 0..<n {
                let row = e * d * 2 * n + i * 2 * n
                if weights.w1.scalars[row + j] != rounding(block.gate[e].scalars[j * d + i]) { mismatches += 1 }
                if weights.w1.scalars[row + n + j] != rounding(block.up[e].scalars[j * d + i]) { mismatches += 1 }
                if weights.w2.scalars[e * n * d + j * d + i] != rounding(block.down[e].scalars[i * n + j]) { mismatches += 1 }
            }
        }
    }
    #expect(mismatches == 0)
}

struct HFCheckpointTests {
    @Test(arguments: CheckpointArchitecture.allCases)
    func shardedCheckpointMapsElementByElement(architecture: CheckpointArchitecture) throws {
        let directory = TemporaryDirectory()
        let wanted = SyntheticBlock(seed: 11)
        let other = SyntheticBlock(seed: 12)
        try writeShards(other.named(architecture, layer: 0) + wanted.named(architecture, layer: 1), in: directory, as: .float32)
        directory.write(configJSON(architecture), to: "config.json")

        let weights = try HFCheckpoint(directory: directory.path).loadMoELayer(1, architecture: architecture)
        let config = weights.config
        #expect([config.hidden, config.intermediate, config.experts] == [8, 4, 4])
        #expect(config.activation == .swiglu)
        expectMapped(weights, wanted)
        switch architecture {
        case .mixtral: #expect(config.router.kind == .mixtral && config.topK == 2)
        case .qwen3: #expect(config.router.kind == .softmaxTopK(renormalize: true) && config.topK == 2)
        case .olmoe: #expect(config.router.kind == .softmaxTopK(renormalize: false) && config.topK == 3)
        case .deepseekV3:
            #expect(config.router.kind == .sigmoidBias(groups: 2, topKGroups: 1, scaling: 2.5))
            #expect(weights.routerBias == wanted.bias)
            #expect(config.sharedExperts == 1 && config.sharedIntermediate == 8)
            let (d, ns) = (8, 8)
            var mismatches = 0
            for i in 0..<d {
                for j in 0..<ns {
                    if weights.sharedW1.scalars[i * 2 * ns + j] != wanted.shared.gate.scalars[j * d + i] { mismatches += 1 }
                    if weights.sharedW1.scalars[i * 2 * ns + ns + j] != wanted.shared.up.scalars[j * d + i] { mismatches += 1 }
                    if weights.sharedW2.scalars[j * d + i] != wanted.shared.down.scalars[i * ns + j] { mismatches += 1 }
                }
            }
            #expect(mismatches == 0)
        }
        if architecture != .deepseekV3 { #expect(weights.routerBias.scalars.allSatisfy { $0 == 0 }) }
    }

    /// BF16 shards listed file by file, no config.json: sizes from shapes, Mixtral's default top-2.
    @Test func bfloat16ShardsWithoutConfig() throws {
        let directory = TemporaryDirectory()
        let block = SyntheticBlock(seed: 3)
        try writeShards(block.named(.mixtral, layer: 0), in: directory, as: .bfloat16)
        let checkpoint = try HFCheckpoint(files: [
            directory.file("model-00001-of-00002.safetensors"), directory.file("model-00002-of-00002.safetensors"),
        ])
        let weights = try checkpoint.loadMoELayer(0, architecture: .mixtral)
        #expect(weights.config.topK == 2)
        expectMapped(weights, block) { Float(bitPattern: (($0.bitPattern &+ 0x7FFF &+ (($0.bitPattern >> 16) & 1)) >> 16) << 16) }
    }

    /// FP8 E4M3 weights with 2×4 block scales (`weight_scale_inv`), as in DeepSeek-V3's release.
    @Test func blockScaledFP8WeightsAreDequantized() throws {
        let directory = TemporaryDirectory()
        var block = SyntheticBlock(seed: 5)
        var g = SeededGenerator(seed: 6)
        // Random E4M3 codes (no NaN), decoded by hand: 2^(e−7)·(1 + m/8), or 2^−6·m/8 when e = 0.
        let codes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) & 0xFE }
        let decoded: [Float] = codes.map { code in
            let (e, m) = (Int(code >> 3) & 0xF, Float(code & 7))
            let magnitude = e == 0 ? m / 8 * 0x1p-6 : (1 + m / 8) * Float(sign: .plus, exponent: e - 7, significand: 1)
            return code & 0x80 == 0 ? magnitude : -magnitude
        }
        let scale = try Tensor<Float>(shape: [2, 2], scalars: [0.5, 2, 4, 0.25])
        block.gate[0] = try Tensor(
            shape: [4, 8], scalars: (0..<32).map { decoded[$0] * scale.scalars[($0 / 8 / 2) * 2 + ($0 % 8) / 4] })
        var tensors = block.named(.qwen3, layer: 0)
        let gateName = "model.layers.0.mlp.experts.0.gate_proj.weight"
        tensors.removeAll { $0.0 == gateName }
        try writeShards(tensors, in: directory, as: .float32)
        var fp8 = SafetensorsWriter()
        try fp8.add(gateName, dtype: .float8E4M3, shape: [4, 8], bytes: codes)
        try fp8.add(gateName + "_scale_inv", scale)
        try fp8.write(to: directory.file("model-fp8.safetensors"))
        directory.write(
            #"{"num_experts_per_tok": 2, "quantization_config": {"weight_block_size": [2, 4]}}"#, to: "config.json")
        expectMapped(try HFCheckpoint(directory: directory.path).loadMoELayer(0, architecture: .qwen3), block)
    }

    @Test func denseOrAbsentLayerIsAClearError() throws {
        let directory = TemporaryDirectory()
        try writeShards(SyntheticBlock(seed: 1).named(.qwen3, layer: 0), in: directory, as: .float32)
        directory.write(configJSON(.qwen3), to: "config.json")
        let checkpoint = try HFCheckpoint(directory: directory.path)
        let error = try #require(throws: SwitchyardError.self) { try checkpoint.loadMoELayer(5, architecture: .qwen3) }
        #expect(error.kind == .malformedFile && error.message.contains("model.layers.5.mlp.gate.weight"))
        let mixtral = try #require(throws: SwitchyardError.self) { try checkpoint.loadMoELayer(0, architecture: .mixtral) }
        #expect(mixtral.message.contains("block_sparse_moe"))
    }

    @Test func configDisagreeingWithTensorsIsAClearError() throws {
        let directory = TemporaryDirectory()
        try writeShards(SyntheticBlock(seed: 1).named(.qwen3, layer: 0), in: directory, as: .float32)
        directory.write(#"{"num_experts": 6, "num_experts_per_tok": 2}"#, to: "config.json")
        let error = try #require(throws: SwitchyardError.self) {
            try HFCheckpoint(directory: directory.path).loadMoELayer(0, architecture: .qwen3)
        }
        #expect(error.kind == .malformedFile && error.message.contains("num_experts = 6"))
    }

    @Test func missingExpertIsAClearError() throws {
        let directory = TemporaryDirectory()
        var tensors = SyntheticBlock(seed: 1).named(.qwen3, layer: 0)
        tensors.removeAll { $0.0 == "model.layers.0.mlp.experts.3.down_proj.weight" }
        try writeShards(tensors, in: directory, as: .float32)
        directory.write(configJSON(.qwen3), to: "config.json")
        let checkpoint = try HFCheckpoint(files: [directory.path])
        let missing = try #require(throws: SwitchyardError.self) { try checkpoint.loadMoELayer(0, architecture: .qwen3) }
        #expect(missing.kind == .malformedFile && missing.message.contains("experts.3.down_proj"))
    }

    @Test func tensorInTwoShardsIsMalformed() throws {
        let directory = TemporaryDirectory()
        for name in ["a.safetensors", "b.safetensors"] {
            var writer = SafetensorsWriter()
            try writer.add("x", Tensor<Float>(shape: [1], scalars: [1]))
            try writer.write(to: directory.file(name))
        }
        let error = try #require(throws: SwitchyardError.self) { try HFCheckpoint(directory: directory.path) }
        #expect(error.kind == .malformedFile && error.message.contains("appears in both"))
    }
}
