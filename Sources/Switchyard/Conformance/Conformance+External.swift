import SwitchyardFormats

/// What a layer driven outside the ``Backend`` protocol produced for a case (the expert-parallel layer over
/// several ranks): the output, its own routing, and optionally every gradient.
public struct ExternalLayerRun: Sendable {
    /// O [T, d].
    public var output: HostTensor
    /// The choices [T·K] and scores [T, K] the layer used.
    public var expertIndex: [Int32]
    public var scores: HostTensor
    /// dX, dWr, dW1, dW2 and dS (shared-expert fields empty), when backward ran.
    public var gradients: LayerGradients<Float>?

    public init(output: HostTensor, expertIndex: [Int32], scores: HostTensor, gradients: LayerGradients<Float>? = nil) {
        self.output = output
        self.expertIndex = expertIndex
        self.scores = scores
        self.gradients = gradients
    }
}

extension Conformance {
    /// The output gradient dO of a case's backward check (bf16 values), the same as ``runBackward(_:on:storage:)`` draws.
    public static func outputGradient(for c: ConformanceCase) -> HostTensor {
        var g = SeededGenerator(seed: c.seed ^ 0xD0)
        var dO = HostTensor.randomNormal(shape: [c.tokens, c.config.hidden], generator: &g)
        for i in dO.scalars.indices { dO.scalars[i] = roundedToBFloat16(dO.scalars[i]) }
        return dO
    }

    /// Runs `layer` twice on a case's inputs (and dO when `backward`), requires the same bytes both times, checks its
    /// routing against the float64 reference (differences only at near-ties), and compares O and the scores (and
    /// dX, dWr, dW1, dW2, dS) with the float64 reference run on the layer's own routing, storing what a bf16 device
    /// stores. `layer` gets X, the weights and dO (nil for a forward-only check).
    public static func runExternal(
        _ c: ConformanceCase, storage: StoragePrecision, backward: Bool,
        layer: (HostTensor, MoEWeights<Float>, HostTensor?) throws -> ExternalLayerRun
    ) -> ConformanceResult {
        var result = ConformanceResult(testCase: c)
        do {
            let (x, weights) = inputs(for: c)
            let dO = backward ? outputGradient(for: c) : nil
            let got = try layer(x, weights, dO)
            let again = try layer(x, weights, dO)
            if !sameBits(got.output, again.output) || got.expertIndex != again.expertIndex {
                result.failures.append("forward differs between two runs on the same inputs (not deterministic)")
            }
            if backward {
                guard let first = got.gradients, let second = again.gradients else {
                    result.failures.append("backward requested but the layer returned no gradients")
                    return result
                }
                for (name, a, b) in [("dX", first.input, second.input), ("dWr", first.router, second.router),
                                     ("dW1", first.w1, second.w1), ("dW2", first.w2, second.w2),
                                     ("dS", first.scores, second.scores)] where !sameBits(a, b) {
                    result.failures.append("\(name) differs between two runs on the same inputs (not deterministic)")
                }
            }
            let x64 = x.converted(to: Double.self), w64 = weights.converted(to: Double.self)
            let free = try ReferenceLayer.forward(x64, weights: w64)
            result.routingMismatches = routingMismatches(
                got: got.expertIndex, reference: free, bias: w64.routerBias.scalars, config: c.config,
                failures: &result.failures)
            let forced = try ReferenceLayer.forward(x64, weights: w64, storage: storage, routingOverride: got.expertIndex)
            let bound = tolerance(for: storage)
            result.compare("O", got.output, forced.output, bound: bound)
            result.compare("scores", got.scores, forced.scores, bound: bound)
            if let grads = got.gradients, let dO {
                let want = try ReferenceLayer.backward(
                    dO.converted(to: Double.self), input: x64, weights: w64, forward: forced, storage: storage)
                result.compareGradients(grads, want, bound: bound)
            }
        } catch {
            result.failures.append("threw: \(error)")
        }
        return result
    }
}
