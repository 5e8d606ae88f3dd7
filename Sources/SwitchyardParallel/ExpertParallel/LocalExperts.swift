import Switchyard

/// The experts held in this rank's slots, each run through ``ReferenceLayer`` as a one-expert layer.
///
/// A one-expert layer routes every row to its expert with score exactly 1 (a softmax over one logit), so its
/// output is the expert's Y for each row, bit for bit what the full layer computes for those rows (the reference
/// GEMMs have one summation order per element, whatever the other rows).
struct LocalExperts<S: BinaryFloatingPoint & Sendable>: Sendable {
    /// One single-expert layer per slot.
    let layers: [MoEWeights<S>]
    let threads: Int

    init(config: MoEConfig, w1: Tensor<S>, w2: Tensor<S>, slots: Int, threads: Int) throws {
        let single = try MoEConfig(
            hidden: config.hidden, intermediate: config.intermediate, experts: 1, topK: 1,
            activation: config.activation, router: RouterConfig(kind: .softmaxTopK(renormalize: false)))
        let w1Size = config.hidden * config.upColumns, w2Size = config.intermediate * config.hidden
        layers = try (0..<slots).map { slot in
            try MoEWeights(
                config: single, router: Tensor(zeros: [config.hidden, 1]),
                w1: Tensor(shape: [1, config.hidden, config.upColumns],
                           scalars: Array(w1.scalars[(slot * w1Size)..<((slot + 1) * w1Size)])),
                w2: Tensor(shape: [1, config.intermediate, config.hidden],
                           scalars: Array(w2.scalars[(slot * w2Size)..<((slot + 1) * w2Size)])))
        }
        self.threads = threads
    }

    /// Y of slot `slot`'s expert for each row of `rows` [m, d].
    func forward(slot: Int, rows: Tensor<S>) throws -> LayerForward<S> {
        try ReferenceLayer.forward(rows, weights: layers[slot], threads: threads)
    }

    /// The expert's gradients for `rows` given dY = `outputGradient` [m, d] (already scaled by each row's score):
    /// dX rows, dW1 [1, d, up], dW2 [1, n, d].
    func backward(slot: Int, rows: Tensor<S>, outputGradient: Tensor<S>, forward: LayerForward<S>) throws -> LayerGradients<S> {
        try ReferenceLayer.backward(outputGradient, input: rows, weights: layers[slot], forward: forward, threads: threads)
    }
}
