import Switchyard

extension HFCheckpoint {
    /// Loads the MoE block of decoder layer `layer` into Switchyard's layout.
    ///
    /// Sizes come from the tensors themselves (E and d from the router, n from expert 0, the shared width
    /// from the shared expert) and are checked against `config.json` when it names them. Top-K and the router
    /// settings come from `config.json`, else transformers' defaults for the architecture (top-K 2 for
    /// Mixtral, 8 otherwise; `norm_topk_prob` true for Qwen3 and DeepSeek-V3, false for OLMoE; DeepSeek-V3
    /// `n_group` 8, `topk_group` 4, `routed_scaling_factor` 2.5). Change `weights.config` afterwards to
    /// override them. Weights stored with a `weight_scale_inv` block scale (DeepSeek-V3's FP8 release) are
    /// dequantized.
    ///
    /// Throws `malformedFile` when a tensor is missing or has an unexpected shape (a dense layer has no
    /// router), `unsupported` for settings Switchyard cannot express.
    public func loadMoELayer(_ layer: Int, architecture: CheckpointArchitecture) throws -> MoEWeights<Float> {
        let routerName = architecture.routerName(layer: layer)
        guard contains(routerName) else {
            throw SwitchyardError(
                .malformedFile,
                "layer \(layer) has no \(architecture.rawValue) MoE router \"\(routerName)\" "
                    + "(a dense layer, a layer index out of range, or another architecture's names)")
        }
        let gate = try linearWeight(routerName)
        let experts = gate.shape[0]
        let hidden = gate.shape[1]
        let intermediate = try linearWeight(architecture.expertNames(layer: layer, expert: 0).gate).shape[0]
        try requireConfig(architecture.expertCountKey, equals: experts, what: "experts (router rows)")
        try requireConfig("hidden_size", equals: hidden, what: "hidden size (router columns)")
        try requireConfig(architecture.intermediateKey, equals: intermediate, what: "expert intermediate size")

        let shared = try architecture.sharedNames(layer: layer).flatMap { names in
            contains(names.gate) ? try loadGLU(names, hidden: hidden, intermediate: nil) : nil
        }
        if architecture == .deepseekV3, (configValue("n_shared_experts")?.intValue ?? 0) > 0, shared == nil {
            throw SwitchyardError(
                .malformedFile, "config.json sets n_shared_experts but layer \(layer) has no shared_experts tensors")
        }
        let config = try MoEConfig(
            hidden: hidden, intermediate: intermediate, experts: experts,
            topK: configValue("num_experts_per_tok")?.intValue ?? architecture.defaultTopK,
            activation: try activation(), router: RouterConfig(kind: try routerKind(architecture)),
            sharedExperts: shared == nil ? 0 : 1, sharedIntermediate: shared?.intermediate ?? 0)

        var w1 = [Float](repeating: 0, count: experts * hidden * 2 * intermediate)
        var w2 = [Float](repeating: 0, count: experts * intermediate * hidden)
        for expert in 0..<experts {
            let glu = try loadGLU(
                architecture.expertNames(layer: layer, expert: expert), hidden: hidden, intermediate: intermediate)
            w1.replaceSubrange(glu.w1.indices.shifted(by: expert * glu.w1.count), with: glu.w1)
            w2.replaceSubrange(glu.w2.indices.shifted(by: expert * glu.w2.count), with: glu.w2)
        }
        let routerBias = try architecture.routerBiasName(layer: layer).map { name in
            let bias = try tensor(name)
            try requireShape(bias, [experts], name)
            return bias
        }
        return try MoEWeights(
            config: config, router: transposed(gate), routerBias: routerBias,
            w1: Tensor(shape: [experts, hidden, 2 * intermediate], scalars: w1),
            w2: Tensor(shape: [experts, intermediate, hidden], scalars: w2),
            sharedW1: try shared.map { try Tensor(shape: [1, hidden, 2 * $0.intermediate], scalars: $0.w1) },
            sharedW2: try shared.map { try Tensor(shape: [1, $0.intermediate, hidden], scalars: $0.w2) })
    }

    /// One GLU MLP in Switchyard's layout: W1 [d, 2n] = [gateᵀ | upᵀ], W2 [n, d] = downᵀ.
    private func loadGLU(
        _ names: (gate: String, up: String, down: String), hidden: Int, intermediate expected: Int?
    ) throws -> (w1: [Float], w2: [Float], intermediate: Int) {
        let gate = try linearWeight(names.gate)
        let n = expected ?? gate.shape[0]
        try requireShape(gate, [n, hidden], names.gate)
        let up = try linearWeight(names.up)
        try requireShape(up, [n, hidden], names.up)
        let down = try linearWeight(names.down)
        try requireShape(down, [hidden, n], names.down)
        var w1 = [Float](repeating: 0, count: hidden * 2 * n)
        for j in 0..<n {
            for i in 0..<hidden {
                w1[i * 2 * n + j] = gate.scalars[j * hidden + i]
                w1[i * 2 * n + n + j] = up.scalars[j * hidden + i]
            }
        }
        return (w1, transposed(down).scalars, n)
    }

    /// A Linear weight [out, in] as Float, multiplied by its `weight_scale_inv` block scales when it has them.
    func linearWeight(_ name: String) throws -> Tensor<Float> {
        var weight = try tensor(name)
        guard weight.shape.count == 2 else {
            throw SwitchyardError(.malformedFile, "\"\(name)\" must be a matrix, got shape \(weight.shape)")
        }
        let scaleName = name + "_scale_inv"
        guard contains(scaleName) else { return weight }
        let scale = try tensor(scaleName)
        let block = configValue("quantization_config")?["weight_block_size"]?.arrayValue?.compactMap(\.intValue) ?? [128, 128]
        guard block.count == 2, block.allSatisfy({ $0 > 0 }) else {
            throw SwitchyardError(.malformedFile, "quantization_config.weight_block_size must be two positive integers")
        }
        let (rows, columns) = (weight.shape[0], weight.shape[1])
        let scaleColumns = (columns + block[1] - 1) / block[1]
        try requireShape(scale, [(rows + block[0] - 1) / block[0], scaleColumns], scaleName)
        for r in 0..<rows {
            for c in 0..<columns {
                weight.scalars[r * columns + c] *= scale.scalars[(r / block[0]) * scaleColumns + c / block[1]]
            }
        }
        return weight
    }

    private func requireShape(_ tensor: Tensor<Float>, _ expected: [Int], _ name: String) throws {
        guard tensor.shape == expected else {
            throw SwitchyardError(.malformedFile, "\"\(name)\" has shape \(tensor.shape), expected \(expected)")
        }
    }

    private func configValue(_ key: String) -> JSONValue? { config?[key] }

    private func requireConfig(_ key: String, equals found: Int, what: String) throws {
        guard let value = configValue(key)?.intValue, value != found else { return }
        throw SwitchyardError(
            .malformedFile, "config.json \(key) = \(value), but the tensors give \(what) = \(found)")
    }

    private func activation() throws -> Activation {
        let name = configValue("hidden_act")?.stringValue ?? "silu"
        guard name == "silu" || name == "swish" else {
            throw SwitchyardError(.unsupported, "hidden_act \"\(name)\" is not supported; allowed: silu (SwiGLU)")
        }
        return .swiglu
    }

    private func routerKind(_ architecture: CheckpointArchitecture) throws -> RouterKind {
        let renormalize = configValue("norm_topk_prob")?.boolValue
        switch architecture {
        case .mixtral: return .mixtral
        case .qwen3: return .softmaxTopK(renormalize: renormalize ?? true)
        case .olmoe: return .softmaxTopK(renormalize: renormalize ?? false)
        case .deepseekV3:
            if let scoring = configValue("scoring_func")?.stringValue, scoring != "sigmoid" {
                throw SwitchyardError(.unsupported, "DeepSeek scoring_func \"\(scoring)\" is not supported; allowed: sigmoid")
            }
            guard renormalize ?? true else {
                throw SwitchyardError(.unsupported, "DeepSeek-V3 with norm_topk_prob = false is not supported")
            }
            return .sigmoidBias(
                groups: configValue("n_group")?.intValue ?? 8, topKGroups: configValue("topk_group")?.intValue ?? 4,
                scaling: configValue("routed_scaling_factor")?.doubleValue ?? 2.5)
        }
    }
}

/// The transpose of a matrix.
func transposed(_ matrix: Tensor<Float>) -> Tensor<Float> {
    let (rows, columns) = (matrix.shape[0], matrix.shape[1])
    var out = [Float](repeating: 0, count: matrix.count)
    for r in 0..<rows {
        for c in 0..<columns { out[c * rows + r] = matrix.scalars[r * columns + c] }
    }
    // Same element count, swapped extents.
    return try! Tensor(shape: [columns, rows], scalars: out)
}

extension Range where Bound == Int {
    fileprivate func shifted(by offset: Int) -> Range<Int> { (lowerBound + offset)..<(upperBound + offset) }
}
