/// The tensor names of Switchyard's own files: a layer's weights, and the activations and gradients that
/// `switchyard run` reads and writes.
public enum LayerTensorNames {
    /// Wr, [d, E].
    public static let router = "router.weight"
    /// The score-correction bias, [E].
    public static let routerBias = "router.bias"
    /// W1, [E, d, up] (gate columns, then up columns).
    public static let w1 = "experts.w1"
    /// W2, [E, n, d].
    public static let w2 = "experts.w2"
    /// Shared W1, [S, d, sharedUp].
    public static let sharedW1 = "shared.w1"
    /// Shared W2, [S, ns, d].
    public static let sharedW2 = "shared.w2"

    /// X, [T, d].
    public static let input = "input"
    /// O, [T, d].
    public static let output = "output"
    /// dO, [T, d].
    public static let outputGradient = "output_grad"
    /// dX, dWr, dW1, dW2 and the shared experts' gradients: the weight's name with this prefix.
    public static let gradientPrefix = "grad."
    public static let inputGradient = gradientPrefix + input

    /// Metadata key and value that mark a Switchyard layer file.
    public static let formatKey = "format"
    public static let layerFormat = "switchyard.moe-layer"
    /// Metadata key of the layer's `MoEConfig` as JSON.
    public static let configKey = "switchyard.config"
}
