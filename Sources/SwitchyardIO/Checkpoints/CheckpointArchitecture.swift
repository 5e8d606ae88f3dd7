/// The Hugging Face model families whose MoE blocks ``HFCheckpoint`` maps into `MoEWeights`.
///
/// See `docs/checkpoints.md` for the full name table.
public enum CheckpointArchitecture: String, Sendable, Hashable, CaseIterable {
    /// `model.layers.L.block_sparse_moe.{gate, experts.e.w1/w3/w2}`; router `.mixtral`.
    case mixtral
    /// `model.layers.L.mlp.{gate, experts.e.gate_proj/up_proj/down_proj}`; softmax top-K,
    /// renormalized unless `norm_topk_prob` is false.
    case qwen3
    /// The Qwen3 names; softmax top-K, renormalized only when `norm_topk_prob` is true.
    case olmoe
    /// The Qwen3 names plus `mlp.gate.e_score_correction_bias` and `mlp.shared_experts.*`;
    /// router `.sigmoidBias(groups: n_group, topKGroups: topk_group, scaling: routed_scaling_factor)`.
    case deepseekV3 = "deepseek-v3"

    /// The common prefix of layer `layer`'s MoE block, e.g. "model.layers.3.mlp.".
    func blockPrefix(layer: Int) -> String {
        switch self {
        case .mixtral: "model.layers.\(layer).block_sparse_moe."
        case .qwen3, .olmoe, .deepseekV3: "model.layers.\(layer).mlp."
        }
    }

    /// The router weight [E, d].
    func routerName(layer: Int) -> String { blockPrefix(layer: layer) + "gate.weight" }

    /// The gate, up and down projections of routed expert `expert` ([n, d], [n, d], [d, n]).
    func expertNames(layer: Int, expert: Int) -> (gate: String, up: String, down: String) {
        let base = blockPrefix(layer: layer) + "experts.\(expert)."
        switch self {
        case .mixtral: return (base + "w1.weight", base + "w3.weight", base + "w2.weight")
        case .qwen3, .olmoe, .deepseekV3:
            return (base + "gate_proj.weight", base + "up_proj.weight", base + "down_proj.weight")
        }
    }

    /// DeepSeek-V3's selection bias [E].
    func routerBiasName(layer: Int) -> String? {
        self == .deepseekV3 ? blockPrefix(layer: layer) + "gate.e_score_correction_bias" : nil
    }

    /// DeepSeek-V3's fused shared expert ([ns, d], [ns, d], [d, ns] with ns = n_shared_experts · n).
    func sharedNames(layer: Int) -> (gate: String, up: String, down: String)? {
        guard self == .deepseekV3 else { return nil }
        let base = blockPrefix(layer: layer) + "shared_experts."
        return (base + "gate_proj.weight", base + "up_proj.weight", base + "down_proj.weight")
    }

    /// config.json keys for E and n, and transformers' default top-K when the key is absent.
    var expertCountKey: String {
        switch self {
        case .mixtral: "num_local_experts"
        case .qwen3, .olmoe: "num_experts"
        case .deepseekV3: "n_routed_experts"
        }
    }

    var intermediateKey: String {
        switch self {
        case .mixtral, .olmoe: "intermediate_size"
        case .qwen3, .deepseekV3: "moe_intermediate_size"
        }
    }

    var defaultTopK: Int { self == .mixtral ? 2 : 8 }
}
