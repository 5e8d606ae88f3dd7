import Foundation
import Switchyard
import SwitchyardCUDA
import SwitchyardFormats

/// R ranks of the GPU expert-parallel layer in one process, one thread each, taking and returning host tensors:
/// the harness behind `switchyard check --ranks R` and the EP layer's end-to-end timing.
///
/// Transport: NCCL with one GPU per rank (ncclCommInitAll), or — where there are fewer GPUs than ranks — every
/// rank on one GPU, exchanging through the host (``HostStagedCommunicator``): correct, but nothing overlaps.
public final class GPUExpertParallelGroup: @unchecked Sendable {
    public enum Transport: Sendable {
        /// One GPU per rank, NCCL.
        case nccl
        /// Every rank on GPU 0; collectives staged through host memory.
        case hostStaged
    }

    public let ranks: Int
    public let chunks: Int
    public let transport: Transport
    /// How X travels in the EP layer's dispatch.
    public var dispatchFormat: ExpertParallelOptions.DispatchFormat = .native
    /// Each rank's kernels (for host staging, one object shared by every rank).
    let kernels: [GPUKernels]
    let communicators: [NCCLCommunicator]

    /// - Parameter kernels: for `.nccl`, one per rank (rank r on GPU r); for `.hostStaged`, one (GPU 0).
    public init(ranks: Int, chunks: Int, transport: Transport, kernels: [GPUKernels]) throws {
        guard ranks >= 1, chunks >= 1 else {
            throw SwitchyardError(.invalidConfiguration, "ranks and chunks must be ≥ 1, got \(ranks), \(chunks)")
        }
        self.ranks = ranks
        self.chunks = chunks
        self.transport = transport
        switch transport {
        case .nccl:
            guard kernels.count == ranks else {
                throw SwitchyardError(.invalidConfiguration, "NCCL transport needs one GPU per rank: \(ranks) ranks, \(kernels.count) GPUs")
            }
            self.kernels = kernels
            communicators = try NCCLCommunicator.initAll(contexts: kernels.map(\.context))
        case .hostStaged:
            guard let first = kernels.first else {
                throw SwitchyardError(.invalidConfiguration, "host-staged transport needs one GPU's kernels")
            }
            self.kernels = Array(repeating: first, count: ranks)
            communicators = []
        }
    }

    /// The placements of the checks: contiguous and ragged (rank r holds r·E/R ..< (r+1)·E/R, none when E < R), or
    /// EPLB-style with one spare slot a rank and loads skewed toward low expert indices.
    public static func placement(experts E: Int, ranks: Int, replicated: Bool) throws -> ExpertPlacement {
        replicated
            ? try ExpertPlacement.replicated(
                loads: (0..<E).map { 1 / Double($0 + 1) }, ranks: ranks, slotsPerRank: min(E, (E + ranks - 1) / ranks + 1))
            : try ExpertPlacement(experts: E, slots: (0..<ranks).map { r in Array((r * E / ranks)..<((r + 1) * E / ranks)) })
    }

    /// Rank r's tokens of a T-token batch split contiguously (ragged; a rank may get none).
    public func tokenRange(rank: Int, tokens: Int) -> Range<Int> {
        (rank * tokens / ranks)..<((rank + 1) * tokens / ranks)
    }

    /// Runs `body` once per rank, each on its own thread with its rank's communicator and kernels; results in rank
    /// order. A failing rank's error is rethrown (for NCCL, peers of a failed rank may hang: NCCL has no abort here).
    public func run<T: Sendable>(
        _ body: @escaping @Sendable (_ communicator: any DeviceCommunicator, _ kernels: GPUKernels) throws -> T
    ) throws -> [T] {
        switch transport {
        case .nccl:
            let box = ResultsBox<T>(count: ranks)
            let communicators = self.communicators, kernels = self.kernels
            runOnThreads(count: ranks) { rank in
                box.set(rank, Result { try kernels[rank].context.makeCurrent(); return try body(communicators[rank], kernels[rank]) })
            }
            return try box.values()
        case .hostStaged:
            let kernels = self.kernels[0]
            return try InProcessGroup(size: ranks).run { host in
                try kernels.context.makeCurrent()
                return try body(HostStagedCommunicator(host: host, context: kernels.context), kernels)
            }
        }
    }

    /// Forward (and backward when `outputGradient` is given) of the whole batch `x` [T, d], split over the ranks,
    /// with the full layer's `weights` placed on the ranks; everything read back and assembled (dW1 and dW2 as
    /// [E, …], replicas summed). With `poison`, every device buffer starts as NaN bytes.
    /// - Parameter replicated: place experts EPLB-style instead of contiguously (``placement(experts:ranks:replicated:)``).
    public func run(
        x: HostTensor, weights: MoEWeights<Float>, outputGradient: HostTensor?, poison: Bool = true,
        replicated: Bool = false
    ) throws -> ExternalLayerRun {
        let c = weights.config, T = x.shape[0], d = c.hidden, K = c.topK, E = c.experts, n = c.intermediate
        let placement = try Self.placement(experts: E, ranks: ranks, replicated: replicated)
        let chunks = self.chunks, dispatchFormat = self.dispatchFormat
        struct RankResult: Sendable {
            var output: [Float], expertIndex: [Int32], scores: [Float]
            var dX: [Float], dS: [Float], dWr: [Float], dW1: [Float], dW2: [Float]
        }
        let results = try run { comm, kernels -> RankResult in
            let range = self.tokenRange(rank: comm.rank, tokens: T)
            let context = kernels.context
            func upload(_ tensor: HostTensor) throws -> DeviceBuffer {
                let slice = Array(tensor.scalars[(range.lowerBound * d)..<(range.upperBound * d)])
                let buffer = try context.allocate(bytes: max(slice.count, 1) * 2)
                try buffer.upload(slice.map { BFloat16($0).bitPattern })
                return buffer
            }
            func bf16(_ buffer: DeviceBuffer, _ count: Int) throws -> [Float] {
                try buffer.download(UInt16.self, count: count).map { BFloat16(bitPattern: $0).floatValue }
            }
            let layer = try GPUExpertParallelLayer(
                kernels: kernels, weights: weights, placement: placement, communicator: comm, chunks: chunks,
                dispatchFormat: dispatchFormat)
            layer.poisonsBuffers = poison
            let stream = try CUDAStream(context: context)
            let input = try upload(x)
            let pass = try layer.forward(input: input.address, tokens: range.count, stream: stream)
            try stream.synchronize()
            let routing = try pass.routing(topK: K)
            var result = RankResult(output: [], expertIndex: routing.expertIndex, scores: routing.scores, dX: [], dS: [],
                                    dWr: [], dW1: [], dW2: [])
            if let outputGradient {
                let dO = try upload(outputGradient)
                let grads = try layer.backward(pass, outputGradient: dO.address, input: input.address, stream: stream)
                try stream.synchronize()
                let slots = placement.slots[comm.rank].count
                result.dX = try bf16(grads.input, range.count * d)
                result.dS = try grads.scores.download(Float.self, count: range.count * K)
                result.dWr = try grads.router.download(Float.self, count: d * E)
                result.dW1 = try grads.w1.download(Float.self, count: slots * d * 2 * n)
                result.dW2 = try grads.w2.download(Float.self, count: slots * n * d)
            }
            try stream.synchronize()
            result.output = try bf16(pass.output, range.count * d)
            return result
        }
        var gradients: LayerGradients<Float>?
        if outputGradient != nil {
            let dW1 = placement.summedOverReplicas(results.map(\.dW1), expertSize: d * 2 * n)
            let dW2 = placement.summedOverReplicas(results.map(\.dW2), expertSize: n * d)
            gradients = LayerGradients(
                input: try Tensor(shape: [T, d], scalars: results.flatMap(\.dX)),
                router: try Tensor(shape: [d, E], scalars: results[0].dWr),
                w1: try Tensor(shape: [E, d, 2 * n], scalars: dW1), w2: try Tensor(shape: [E, n, d], scalars: dW2),
                sharedW1: Tensor(zeros: [0, d, 0]), sharedW2: Tensor(zeros: [0, 0, d]),
                scores: try Tensor(shape: [T, K], scalars: results.flatMap(\.dS)))
            // Every rank must hold the same dWr after the all-reduce.
            if let bad = results.firstIndex(where: { $0.dWr != results[0].dWr }) {
                throw SwitchyardError(.invalidConfiguration, "dWr after the all-reduce differs between rank 0 and rank \(bad)")
            }
        }
        return ExternalLayerRun(
            output: try Tensor(shape: [T, d], scalars: results.flatMap(\.output)),
            expertIndex: results.flatMap(\.expertIndex),
            scores: try Tensor(shape: [T, K], scalars: results.flatMap(\.scores)), gradients: gradients)
    }
}

/// Per-rank results written by their own threads, read after all joined.
private final class ResultsBox<T: Sendable>: @unchecked Sendable {
    private var slots: [Result<T, any Error>?]
    private let lock = NSLock()
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ rank: Int, _ result: Result<T, any Error>) { lock.withLock { slots[rank] = result } }
    func values() throws -> [T] {
        try lock.withLock { slots }.map { try $0!.get() }
    }
}
