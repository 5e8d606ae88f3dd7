/// The gated (or plain) activation of each expert MLP.
///
/// GLU variants read H = (g, u) with 2n columns and compute A = act(g) ⊙ u.
/// ``reluSquared`` is not gated: H has n columns and A = relu(H)².
public enum Activation: String, Sendable, Hashable, Codable, CaseIterable {
    case swiglu
    case geglu
    case reluSquared = "relu2"

    /// Whether H carries gate and up halves (2n columns) or one half (n columns).
    public var isGated: Bool { self != .reluSquared }
}

/// How tokens choose experts and how the chosen scores are formed.
public enum RouterKind: Sendable, Hashable, Codable {
    /// Softmax over all E logits, take the top-K; renormalize the K probabilities when `renormalize`
    /// (Qwen3-MoE `norm_topk_prob`, OLMoE).
    case softmaxTopK(renormalize: Bool)
    /// Mixtral: take the top-K logits, softmax over those K only.
    case mixtral
    /// DeepSeek-V3: σ = sigmoid(Z); choose by σ + bias, optionally group-limited
    /// (keep `topKGroups` of `groups` groups ranked by the sum of their top-2 σ + bias);
    /// scores s = σ[idx] / Σ σ[idx] × `scaling`.
    case sigmoidBias(groups: Int, topKGroups: Int, scaling: Double)
}

/// SonicMoE token rounding: each expert's token count is rounded to a multiple of `tile`.
public struct TokenRounding: Sendable, Hashable, Codable {
    public enum Mode: String, Sendable, Hashable, Codable, CaseIterable { case nearest, up, down }
    public var tile: Int
    public var mode: Mode
    public init(tile: Int = 128, mode: Mode = .nearest) {
        self.tile = tile
        self.mode = mode
    }
}

/// Router settings: the selection rule, optional capacity and rounding, and loss coefficients.
public struct RouterConfig: Sendable, Hashable, Codable {
    public var kind: RouterKind
    /// capacity = ceil(T·K·factor / E) assignments per expert; overflow is dropped. `nil`: no dropping.
    public var capacityFactor: Double?
    public var tokenRounding: TokenRounding?
    /// Coefficient of the load-balancing loss E·Σ_e f_e·P̄_e (0 disables it).
    public var auxLossCoefficient: Double
    /// Coefficient of the router z-loss mean(logsumexp(Z)²) (0 disables it).
    public var zLossCoefficient: Double
    /// Step size γ of the aux-loss-free bias update b_e += γ·sign(mean load − load_e).
    public var biasUpdateRate: Double

    public init(
        kind: RouterKind = .softmaxTopK(renormalize: true), capacityFactor: Double? = nil,
        tokenRounding: TokenRounding? = nil, auxLossCoefficient: Double = 0, zLossCoefficient: Double = 0,
        biasUpdateRate: Double = 1e-3
    ) {
        self.kind = kind
        self.capacityFactor = capacityFactor
        self.tokenRounding = tokenRounding
        self.auxLossCoefficient = auxLossCoefficient
        self.zLossCoefficient = zLossCoefficient
        self.biasUpdateRate = biasUpdateRate
    }
}

/// The shape and behaviour of one MoE layer.
///
/// ```swift
/// let config = try MoEConfig(hidden: 1536, intermediate: 256, experts: 128, topK: 8)
/// ```
public struct MoEConfig: Sendable, Hashable, Codable {
    /// d: the model width.
    public var hidden: Int
    /// n: each routed expert's intermediate width.
    public var intermediate: Int
    /// E: the number of routed experts.
    public var experts: Int
    /// K: experts chosen per token.
    public var topK: Int
    public var activation: Activation
    public var router: RouterConfig
    /// Number of shared experts (dense MLPs applied to every token); 0 for none.
    public var sharedExperts: Int
    /// Intermediate width of each shared expert.
    public var sharedIntermediate: Int

    public init(
        hidden: Int, intermediate: Int, experts: Int, topK: Int, activation: Activation = .swiglu,
        router: RouterConfig = RouterConfig(), sharedExperts: Int = 0, sharedIntermediate: Int = 0
    ) throws {
        self.hidden = hidden
        self.intermediate = intermediate
        self.experts = experts
        self.topK = topK
        self.activation = activation
        self.router = router
        self.sharedExperts = sharedExperts
        self.sharedIntermediate = sharedIntermediate
        try validate()
    }

    /// Columns of H per assignment: 2n for gated activations, n otherwise.
    public var upColumns: Int { activation.isGated ? 2 * intermediate : intermediate }
    public var sharedUpColumns: Int { activation.isGated ? 2 * sharedIntermediate : sharedIntermediate }

    /// Throws a ``SwitchyardError`` that names the offending field and the allowed range.
    public func validate() throws {
        func bad(_ message: String) -> SwitchyardError { SwitchyardError(.invalidConfiguration, message) }
        guard hidden > 0 else { throw bad("hidden (d) must be positive, got \(hidden)") }
        guard intermediate > 0 else { throw bad("intermediate (n) must be positive, got \(intermediate)") }
        guard experts > 0 else { throw bad("experts (E) must be positive, got \(experts)") }
        guard topK > 0 else { throw bad("topK (K) must be positive, got \(topK)") }
        guard topK <= experts else { throw bad("topK (K = \(topK)) must not exceed experts (E = \(experts))") }
        guard sharedExperts >= 0 else { throw bad("sharedExperts must be ≥ 0, got \(sharedExperts)") }
        if sharedExperts > 0, sharedIntermediate <= 0 {
            throw bad("sharedIntermediate must be positive when sharedExperts > 0, got \(sharedIntermediate)")
        }
        if let cf = router.capacityFactor, !(cf > 0 && cf.isFinite) {
            throw bad("capacityFactor must be a positive finite number, got \(cf)")
        }
        if let rounding = router.tokenRounding, rounding.tile <= 0 {
            throw bad("tokenRounding.tile must be positive, got \(rounding.tile)")
        }
        guard router.auxLossCoefficient >= 0, router.zLossCoefficient >= 0 else {
            throw bad("loss coefficients must be ≥ 0")
        }
        if case .sigmoidBias(let groups, let topKGroups, let scaling) = router.kind {
            guard groups > 0, experts % groups == 0 else {
                throw bad("groups (\(groups)) must be positive and divide experts (\(experts))")
            }
            guard topKGroups > 0, topKGroups <= groups else {
                throw bad("topKGroups (\(topKGroups)) must be in 1...groups (\(groups))")
            }
            guard topKGroups * (experts / groups) >= topK else {
                throw bad("topKGroups × experts per group (\(topKGroups * (experts / groups))) must be ≥ topK (\(topK))")
            }
            guard scaling > 0, scaling.isFinite else { throw bad("routed scaling must be positive, got \(scaling)") }
        }
    }
}

/// A named layer shape from the SonicMoE sweep or a real model (../shared/MOE.md §3).
public struct NamedShape: Sendable, Hashable {
    public var name: String
    public var tokens: Int
    public var hidden: Int
    public var intermediate: Int
    public var experts: Int
    public var topK: Int

    public init(name: String, tokens: Int, hidden: Int, intermediate: Int, experts: Int, topK: Int) {
        self.name = name
        self.tokens = tokens
        self.hidden = hidden
        self.intermediate = intermediate
        self.experts = experts
        self.topK = topK
    }

    public static let all: [NamedShape] = [
        .init(name: "1.4B-n256", tokens: 40960, hidden: 768, intermediate: 256, experts: 128, topK: 8),
        .init(name: "1.4B-n512", tokens: 40960, hidden: 768, intermediate: 512, experts: 64, topK: 4),
        .init(name: "1.4B-n1024", tokens: 40960, hidden: 768, intermediate: 1024, experts: 32, topK: 2),
        .init(name: "7B-n256", tokens: 24576, hidden: 1536, intermediate: 256, experts: 128, topK: 8),
        .init(name: "7B-n512", tokens: 24576, hidden: 1536, intermediate: 512, experts: 64, topK: 4),
        .init(name: "7B-n1024", tokens: 24576, hidden: 1536, intermediate: 1024, experts: 32, topK: 2),
        .init(name: "30B-n256", tokens: 32768, hidden: 4096, intermediate: 256, experts: 256, topK: 16),
        .init(name: "30B-n512", tokens: 32768, hidden: 4096, intermediate: 512, experts: 128, topK: 8),
        .init(name: "30B-n1024", tokens: 32768, hidden: 4096, intermediate: 1024, experts: 64, topK: 4),
        .init(name: "120B-n512", tokens: 32768, hidden: 4096, intermediate: 512, experts: 256, topK: 16),
        .init(name: "120B-n1024", tokens: 32768, hidden: 4096, intermediate: 1024, experts: 128, topK: 8),
        .init(name: "120B-n2048", tokens: 32768, hidden: 4096, intermediate: 2048, experts: 64, topK: 4),
        .init(name: "OLMoE-1B-7B", tokens: 32768, hidden: 2048, intermediate: 1024, experts: 64, topK: 8),
        .init(name: "Qwen3-30B-A3B", tokens: 32768, hidden: 2048, intermediate: 768, experts: 128, topK: 8),
        .init(name: "Qwen3-235B-A22B", tokens: 32768, hidden: 4096, intermediate: 1536, experts: 128, topK: 8),
    ]

    public static func named(_ name: String) -> NamedShape? {
        all.first { $0.name.lowercased() == name.lowercased() }
    }

    /// The layer configuration of this shape (SwiGLU, softmax top-K with renormalization).
    public func config(router: RouterConfig = RouterConfig()) throws -> MoEConfig {
        try MoEConfig(hidden: hidden, intermediate: intermediate, experts: experts, topK: topK, router: router)
    }

    /// Expert FLOPs as SonicMoE counts them: forward 6·T·K·n·d, backward 12·T·K·n·d.
    public var forwardFLOPs: Double { 6 * Double(tokens) * Double(topK) * Double(intermediate) * Double(hidden) }
    public var backwardFLOPs: Double { 2 * forwardFLOPs }
}
