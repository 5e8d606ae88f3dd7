/// The CPU backend: the reference layer in Float, with fp32 or bf16 storage.
///
/// ```swift
/// let backend = CPUBackend(threads: 2)
/// let forward = try backend.forward(x, weights: weights)
/// ```
public final class CPUBackend: Backend {
    /// Worker threads; results are the same bytes for every count.
    public let threads: Int
    /// How activations are stored between steps (`.bfloat16` rounds H, A, Y and O as a bf16 GPU does).
    public let storage: StoragePrecision

    public init(threads: Int? = nil, storage: StoragePrecision = .float32) {
        self.threads = max(threads ?? defaultThreadCount, 1)
        self.storage = storage
    }

    public var device: DeviceKind { .cpu }

    public var description: String {
        "cpu (\(threads) thread\(threads == 1 ? "" : "s"), \(storage.rawValue) storage)"
    }

    public func forward(_ input: HostTensor, weights: MoEWeights<Float>) throws -> LayerForward<Float> {
        try ReferenceLayer.forward(input, weights: weights, storage: storage, threads: threads)
    }

    public func backward(
        _ outputGradient: HostTensor, input: HostTensor, weights: MoEWeights<Float>, forward: LayerForward<Float>
    ) throws -> LayerGradients<Float> {
        try ReferenceLayer.backward(
            outputGradient, input: input, weights: weights, forward: forward, storage: storage, threads: threads)
    }
}
