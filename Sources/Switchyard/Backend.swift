/// A place that can run the MoE layer: the CPU reference, or a GPU.
///
/// Conformances take host tensors here so that the CLI, tests and the conformance suite can drive any backend
/// the same way; device-resident entry points (caller-owned ``TensorView``s) live on each concrete backend.
public protocol Backend: AnyObject {
    /// Which kind of device runs the work.
    var device: DeviceKind { get }
    /// A one-line description for logs and reports, e.g. "cpu (2 threads)" or "cuda: NVIDIA H100 80GB HBM3".
    var description: String { get }
    /// Runs the forward pass; the result holds what backward needs (X, H, routing metadata).
    func forward(_ input: HostTensor, weights: MoEWeights<Float>) throws -> LayerForward<Float>
    /// Runs the backward pass from dO.
    func backward(
        _ outputGradient: HostTensor, input: HostTensor, weights: MoEWeights<Float>, forward: LayerForward<Float>
    ) throws -> LayerGradients<Float>
}
