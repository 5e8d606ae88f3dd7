import Switchyard
import SwitchyardFormats

/// The CUDA backend: runs the layer with Switchyard's Hopper kernels, taking and returning host tensors.
///
/// Inputs are rounded to bf16 on upload (the kernels store bf16 and accumulate in fp32). For device-resident use
/// (no copies), drive ``GPUMoELayer`` and ``GPUWorkspace`` directly.
public final class GPUBackend: Backend, @unchecked Sendable {
    public let kernels: GPUKernels
    public var device: DeviceKind { .cuda }
    public var description: String { "cuda: \(kernels.context.deviceName) (\(kernels.context.architecture))" }
    private var layerCache: (weights: MoEWeights<Float>, layer: GPUMoELayer)?
    /// Columns of d per chunk of the down-projection, combine and dX (``GPUWorkspace/chunkColumns``); nil: the default
    /// of ``ColumnChunks`` (chunks of ≤ 1 GiB of Y). `switchyard check` sets it to exercise the chunked path on small cases.
    public var chunkColumns: Int?
    /// The dtype the backward pass writes dW1 and dW2 in (read back as floats either way); `switchyard check`
    /// alternates it.
    public var weightGradientPrecision: WeightGradientPrecision = .float32
    /// Whether the forward workspaces keep A (``GPUWorkspace/keepsActivation``); false needs
    /// ``supportsActivationFree(weights:tokens:)``. `switchyard check` clears it where the shape allows.
    public var keepsActivation = true

    public init(context: CUDAContext, cache: KernelCache) throws {
        kernels = try GPUKernels(context: context, cache: cache)
    }

    /// Uploads the layer once per distinct weights.
    public func layer(for weights: MoEWeights<Float>) throws -> GPUMoELayer {
        if let cached = layerCache, cached.weights == weights { return cached.layer }
        let layer = try GPUMoELayer(kernels: kernels, weights: weights)
        layerCache = (weights, layer)
        return layer
    }

    /// Whether a forward of `tokens` tokens in the current ``chunkColumns`` can keep no A.
    public func supportsActivationFree(weights: MoEWeights<Float>, tokens: Int) throws -> Bool {
        GPUWorkspace.supportsActivationFree(layer: try layer(for: weights), capacity: tokens, chunkColumns: chunkColumns)
    }

    public func forward(_ input: HostTensor, weights: MoEWeights<Float>) throws -> LayerForward<Float> {
        try forward(input, weights: weights, poison: true)
    }

    /// Runs forward and reads everything back. With `poison`, every output buffer is first filled with NaN bytes.
    public func forward(_ input: HostTensor, weights: MoEWeights<Float>, poison: Bool) throws -> LayerForward<Float> {
        let c = weights.config
        let tokens = input.shape.first ?? 0
        try input.requireShape([tokens, c.hidden], "input X")
        try input.requireFinite("input X")
        let layer = try layer(for: weights)
        let context = kernels.context
        let workspace = try GPUWorkspace(layer: layer, capacity: tokens, chunkColumns: chunkColumns,
                                         keepsActivation: keepsActivation)
        if poison { try workspace.poison() }
        let x = try context.allocate(bytes: max(input.count, 1) * 2)
        try x.upload(input.scalars.map { BFloat16($0).bitPattern })
        try layer.forward(input: x.address, tokens: tokens, workspace: workspace, stream: nil)
        try context.synchronize()
        var result = try readBack(workspace: workspace, tokens: tokens, config: c)
        // The router losses' values come from the device's logits and choices (T·E work on the host); their
        // gradients are part of the device's backward pass.
        let decision = try Router.route(logits: result.logits, bias: weights.routerBias, config: c,
                                        override: result.plan.expertIndex)
        (result.auxLoss, result.zLoss) = Router.losses(logits: result.logits, decision: decision, config: c)
        return result
    }

    /// Runs forward and backward on the device (forward again, so that H and the routing metadata are the device's
    /// own) and reads every gradient back. Outputs are poisoned with NaN bytes first.
    public func backward(
        _ outputGradient: HostTensor, input: HostTensor, weights: MoEWeights<Float>, forward: LayerForward<Float>
    ) throws -> LayerGradients<Float> {
        let c = weights.config
        let tokens = input.shape.first ?? 0
        try input.requireShape([tokens, c.hidden], "input X")
        try outputGradient.requireShape([tokens, c.hidden], "output gradient dO")
        try outputGradient.requireFinite("output gradient dO")
        let layer = try layer(for: weights)
        let context = kernels.context
        let workspace = try GPUWorkspace(layer: layer, capacity: tokens, chunkColumns: chunkColumns,
                                         keepsActivation: keepsActivation)
        let gradients = try GPUGradients(layer: layer, capacity: tokens, chunkColumns: chunkColumns,
                                         weightPrecision: weightGradientPrecision)
        try workspace.poison()
        try gradients.poison()
        let x = try context.allocate(bytes: max(input.count, 1) * 2)
        try x.upload(input.scalars.map { BFloat16($0).bitPattern })
        let dO = try context.allocate(bytes: max(outputGradient.count, 1) * 2)
        try dO.upload(outputGradient.scalars.map { BFloat16($0).bitPattern })
        // A stream of its own (not the default one), so that the backward pass forks its weight gradients onto a
        // second stream as it does in training and in bench.
        let stream = try CUDAStream(context: context)
        try layer.forward(input: x.address, tokens: tokens, workspace: workspace, stream: stream)
        try layer.backward(outputGradient: dO.address, input: x.address, tokens: tokens, workspace: workspace,
                           gradients: gradients, stream: stream)
        try context.synchronize()
        let E = c.experts, d = c.hidden, n = c.intermediate
        func floats(_ buffer: DeviceBuffer, _ shape: [Int]) throws -> HostTensor {
            try Tensor(shape: shape, scalars: buffer.download(Float.self, count: shape.reduce(1, *)))
        }
        func bf16s(_ buffer: DeviceBuffer, _ shape: [Int]) throws -> HostTensor {
            let bits = try buffer.download(UInt16.self, count: shape.reduce(1, *))
            return try Tensor(shape: shape, scalars: bits.map { BFloat16(bitPattern: $0).floatValue })
        }
        let weights = gradients.weightPrecision == .bfloat16 ? bf16s : floats
        return LayerGradients(
            input: try bf16s(gradients.input, [tokens, d]), router: try floats(gradients.router, [d, E]),
            w1: try weights(gradients.w1, [E, d, 2 * n]), w2: try weights(gradients.w2, [E, n, d]),
            sharedW1: Tensor(zeros: [0, d, 0]), sharedW2: Tensor(zeros: [0, 0, d]),
            scores: try floats(gradients.scores, [tokens, c.topK]))
    }

    private func readBack(workspace w: GPUWorkspace, tokens: Int, config c: MoEConfig) throws -> LayerForward<Float> {
        let assignments = tokens * c.topK
        let expertIndex = try w.expertIndex.download(Int32.self, count: assignments)
        let counts = try w.counts.download(Int32.self, count: c.experts)
        let offsets = try w.offsets.download(Int32.self, count: c.experts + 1)
        let rows = Int(offsets[c.experts])
        let plan = RoutingPlan(
            tokens: tokens, experts: c.experts, topK: c.topK, expertIndex: expertIndex, counts: counts, offsets: offsets,
            gatherIndex: try w.gatherIndex.download(Int32.self, count: rows),
            assignmentOfPosition: try w.assignmentOfPosition.download(Int32.self, count: rows),
            positionOfAssignment: try w.positionOfAssignment.download(Int32.self, count: assignments))
        func bf16(_ buffer: DeviceBuffer, _ shape: [Int]) throws -> HostTensor {
            let count = shape.reduce(1, *)
            let bits = try buffer.download(UInt16.self, count: count)
            return try Tensor(shape: shape, scalars: bits.map { BFloat16(bitPattern: $0).floatValue })
        }
        return LayerForward(
            output: try bf16(w.output, [tokens, c.hidden]), plan: plan,
            logits: try Tensor(shape: [tokens, c.experts], scalars: w.logits.download(Float.self, count: tokens * c.experts)),
            scores: try Tensor(shape: [tokens, c.topK], scalars: w.scores.download(Float.self, count: assignments)),
            hidden: try bf16(w.hidden, [rows, c.upColumns]),
            sharedHidden: Tensor(zeros: [0, tokens, 0]), auxLoss: 0, zLoss: 0)
    }
}
