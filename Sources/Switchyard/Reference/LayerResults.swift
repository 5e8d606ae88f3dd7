/// How the reference layer stores its tensors between steps. Math is always in the scalar type
/// (fp32 or fp64); `bfloat16` rounds every stored activation (H, A, Y, O) to bf16 as a GPU would.
public enum StoragePrecision: String, Sendable, Hashable, Codable, CaseIterable {
    case float32, bfloat16
}

/// The forward pass's outputs and what backward needs: X is the caller's, H and the routing metadata are here.
/// Nothing of size T·K·d is kept.
public struct LayerForward<Scalar: BinaryFloatingPoint & Sendable>: Sendable {
    /// O, [T, d].
    public var output: Tensor<Scalar>
    /// Dispatch metadata (counts, offsets, gather order, inverse map).
    public var plan: RoutingPlan
    /// Z = X·Wr, [T, E].
    public var logits: Tensor<Scalar>
    /// s, [T, K]: the score of each assignment (0 where the slot was dropped).
    public var scores: Tensor<Scalar>
    /// H, [rows, up] in plan order.
    public var hidden: Tensor<Scalar>
    /// Shared experts' H, [S, T, sharedUp].
    public var sharedHidden: Tensor<Scalar>
    /// Unscaled load-balancing loss E·Σ_e f_e·P̄_e and z-loss mean(logsumexp(Z)²); the config's coefficients
    /// weight them in the total loss and in the gradients.
    public var auxLoss: Double
    public var zLoss: Double
    /// [T·K]: the router's own picks (or the override) before capacity and token rounding, in slot order.
    /// Backward needs them where picks were dropped: they normalize the scores and count in the aux loss.
    /// Empty means "the same as `plan.expertIndex`" (valid only when no slot was dropped or added).
    public var selectedExperts: [Int32]
    /// [T]: each token's selection margin (``RouterDecision/margin``); empty when the producer did not compute it.
    public var selectionMargin: [Double]

    public init(
        output: Tensor<Scalar>, plan: RoutingPlan, logits: Tensor<Scalar>, scores: Tensor<Scalar>,
        hidden: Tensor<Scalar>, sharedHidden: Tensor<Scalar>, auxLoss: Double, zLoss: Double,
        selectedExperts: [Int32] = [], selectionMargin: [Double] = []
    ) {
        self.output = output
        self.plan = plan
        self.logits = logits
        self.scores = scores
        self.hidden = hidden
        self.sharedHidden = sharedHidden
        self.auxLoss = auxLoss
        self.zLoss = zLoss
        self.selectedExperts = selectedExperts
        self.selectionMargin = selectionMargin
    }
}

/// Gradients of L = ⟨dO, O⟩ + auxCoef·aux + zCoef·z with respect to every input and parameter.
public struct LayerGradients<Scalar: BinaryFloatingPoint & Sendable>: Sendable {
    public var input: Tensor<Scalar>
    public var router: Tensor<Scalar>
    public var w1: Tensor<Scalar>
    public var w2: Tensor<Scalar>
    public var sharedW1: Tensor<Scalar>
    public var sharedW2: Tensor<Scalar>
    /// dS, [T, K]: the gradient with respect to each assignment's score (⟨dA′, A⟩ = ⟨dO, Y⟩).
    public var scores: Tensor<Scalar>

    public init(
        input: Tensor<Scalar>, router: Tensor<Scalar>, w1: Tensor<Scalar>, w2: Tensor<Scalar>,
        sharedW1: Tensor<Scalar>, sharedW2: Tensor<Scalar>, scores: Tensor<Scalar>
    ) {
        self.input = input
        self.router = router
        self.w1 = w1
        self.w2 = w2
        self.sharedW1 = sharedW1
        self.sharedW2 = sharedW2
        self.scores = scores
    }
}
