import Foundation
import ArgumentParser
import Switchyard
import SwitchyardCUDA
import SwitchyardFormats
import SwitchyardModel
import SwitchyardParallel

/// `switchyard ep-bench`: NCCL dispatch and combine bandwidth over real token layouts, one process driving every
/// GPU of this node, with the performance model's prediction beside each measurement.
struct EPBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ep-bench",
        abstract: "Measure expert-parallel dispatch and combine bandwidth (GB/s per rank) over NCCL, then the GPU EP layer.",
        discussion: """
            Tokens are routed top-K uniformly at random (seeded) and planned as the EP layer plans them: each token \
            goes once to every rank that holds one of its experts. Bytes are the deduplicated cross-rank token bytes. \
            Needs at least 2 GPUs for bandwidth figures; --gpus 1 runs NCCL's one-rank path as a smoke test of the \
            NCCL library, communicator and grouped send/receive (no cross-rank bytes, so no bandwidth is reported). \
            Every run checks the received bytes: each rank sends its own byte pattern, and each received segment \
            must hold its source rank's pattern. Compare with bench/ep_torch_baseline.py run in the same session. \
            Then the GPU expert-parallel layer runs end to end at each shape (weights seeded on the device, its own \
            router's routing): forward and forward + backward with 1 and --chunks token chunks, host clock, the \
            slowest rank's median; with one rank also the single-device layer on the same weights. A shape whose \
            per-rank weights and gradients would not fit the GPU is skipped with a message. --bandwidth-only skips \
            this part.
            """
    )

    @Option(help: "Shapes: deepseek-v3 (4096 tokens a rank, d 7168, E 256, top-8), 30B-n512, or all.")
    var shape: String = "all"
    @Option(help: "GPUs to use (default: every visible GPU).")
    var gpus: Int?
    @Option(help: "Dispatch format: bf16 or fp8 (E4M3 + one fp32 scale per 128 values). Combine is always bf16.")
    var dispatch: String = "bf16"
    @Option(help: "Timed iterations (the median is reported).")
    var iterations: Int = 20
    @Option(help: "Token chunks of the overlapped EP layer (compared with 1 chunk).")
    var chunks: Int = 4
    @Flag(help: "Skip the end-to-end EP layer timing (bandwidth only).")
    var bandwidthOnly = false
    @Option(help: "Calibration of the performance model whose EP layer prediction is printed beside the measurement (default: the committed fit of the part the GPU's name says, as in bench).")
    var calibration: String?
    @Option(help: """
        Run as one rank of a multi-process job (one process per GPU, any number of nodes): env (torchrun's \
        MASTER_ADDR and MASTER_PORT), tcp://HOST:PORT (rank 0 serves the NCCL id there) or file:///PATH (a fresh \
        path on storage every rank sees). Rank and size come from --rank/--world-size or $RANK/$WORLD_SIZE, the GPU \
        from $LOCAL_RANK.
        """)
    var rendezvous: String?
    @Option(help: "With --rendezvous: this process's rank (default $RANK).") var rank: Int?
    @Option(help: "With --rendezvous: the number of ranks (default $WORLD_SIZE).") var worldSize: Int?

    struct Shape: Sendable {
        var name: String
        /// Tokens on each rank: a fixed count, or the shape's whole batch split over the ranks.
        var fixedTokensPerRank: Int?
        var totalTokens: Int
        var hidden: Int
        var experts: Int
        var topK: Int
        var intermediate: Int
    }

    static let shapes = [
        Shape(name: "deepseek-v3", fixedTokensPerRank: 4096, totalTokens: 0, hidden: 7168, experts: 256, topK: 8,
              intermediate: 2048),
        Shape(name: "30B-n512", fixedTokensPerRank: nil, totalTokens: 32768, hidden: 4096, experts: 128, topK: 8,
              intermediate: 512),
    ]

    func run() async throws {
        let visible = (try? CUDAContext.deviceCount()) ?? 0
        guard visible >= 1 else { throw ValidationError("ep-bench needs a GPU; this machine has none usable") }
        guard ["bf16", "fp8"].contains(dispatch) else { throw ValidationError("--dispatch must be bf16 or fp8") }
        guard iterations >= 1, chunks >= 1 else { throw ValidationError("--iterations and --chunks must be ≥ 1") }
        let chosen = shape == "all" ? Self.shapes : Self.shapes.filter { $0.name.lowercased() == shape.lowercased() }
        guard !chosen.isEmpty else { throw ValidationError("unknown shape \(shape); use deepseek-v3, 30B-n512 or all") }
        if let rendezvous { return try runRank(rendezvous: rendezvous, visible: visible, shapes: chosen) }
        guard visible >= 2 || gpus == 1 else {
            throw ValidationError("ep-bench needs at least 2 GPUs for bandwidth; this machine has \(visible) (--gpus 1 runs the one-rank NCCL smoke test)")
        }
        let ranks = gpus ?? visible
        guard (1...visible).contains(ranks) else { throw ValidationError("--gpus must be in 1...\(visible)") }

        try NCCLLibrary.load()
        let contexts = try (0..<ranks).map { try CUDAContext.open(ordinal: $0) }
        let communicators = try NCCLCommunicator.initAll(contexts: contexts)
        let code = try NCCLLibrary.version()  // major·10000 + minor·100 + patch (NCCL ≥ 2.9)
        print("NCCL \(code / 10000).\(code / 100 % 100).\(code % 100), \(ranks) × \(contexts[0].deviceName), NCCL_NVLS_ENABLE=0")
        for shape in chosen {
            try EPBenchRun(shape: shape, ranks: ranks, fp8: dispatch == "fp8", iterations: iterations)
                .measure(communicators: communicators)
        }
        guard !bandwidthOnly else { return }
        let cache = try KernelCache()
        let kernels = try contexts.map { try GPUKernels(context: $0, cache: cache) }
        try measureLayer(shapes: chosen, ranks: ranks, communicators: communicators, device: contexts[0].deviceName) { chunks, body in
            try GPUExpertParallelGroup(ranks: ranks, chunks: chunks, transport: .nccl, kernels: kernels).run(body)
        }
    }

    /// The EP layer timing of every shape; `run` runs a per-rank body on the ranks this process drives.
    private func measureLayer(
        shapes: [Shape], ranks: Int, communicators: [NCCLCommunicator], device: String, run: EPLayerTiming.Runner
    ) throws {
        let (machine, factors, calibrationFile) = try ModelCalibration.resolve(
            hardware: nil, calibration: calibration, device: device)
        if communicators.contains(where: { $0.rank == 0 }) {
            print("EP layer model: \(machine.name)\(calibrationFile.map { " calibrated by \($0)" } ?? " (vendor defaults)")")
        }
        let model = ExpertParallelModel(hardware: machine, calibration: factors)
        for shape in shapes {
            try EPLayerTiming(shape: shape, ranks: ranks, chunks: chunks, iterations: iterations, fp8: dispatch == "fp8")
                .measure(model: model, communicators: communicators, run: run)
        }
    }

    /// One rank of a multi-process job: its GPU, the NCCL id through the rendezvous, then the same measurements,
    /// each reduced over the ranks (the slowest rank's median); rank 0 prints.
    private func runRank(rendezvous spec: String, visible: Int, shapes: [Shape]) throws {
        let env = ProcessInfo.processInfo.environment
        guard let rank = rank ?? env["RANK"].flatMap({ Int($0) }), let size = worldSize ?? env["WORLD_SIZE"].flatMap({ Int($0) }),
              size >= 1, (0..<size).contains(rank)
        else {
            throw ValidationError("--rendezvous needs the rank and size: --rank/--world-size or $RANK/$WORLD_SIZE (0 ≤ rank < size)")
        }
        let local = env["LOCAL_RANK"].flatMap { Int($0) } ?? rank % visible
        guard (0..<visible).contains(local) else { throw ValidationError("LOCAL_RANK \(local) is not a visible GPU (0..<\(visible))") }
        let point: NCCLRendezvous
        if spec == "env" {
            guard let host = env["MASTER_ADDR"], let port = env["MASTER_PORT"].flatMap({ Int($0) }) else {
                throw ValidationError("--rendezvous env needs $MASTER_ADDR and $MASTER_PORT (as torchrun sets them)")
            }
            point = .tcp(host: host, port: port)
        } else if spec.hasPrefix("tcp://"), let colon = spec.lastIndex(of: ":"), colon > spec.index(spec.startIndex, offsetBy: 6),
                  let port = Int(spec[spec.index(after: colon)...]) {
            point = .tcp(host: String(spec[spec.index(spec.startIndex, offsetBy: 6)..<colon]), port: port)
        } else if spec.hasPrefix("file://"), spec.count > 7 {
            point = .file(path: String(spec.dropFirst(7)))
        } else {
            throw ValidationError("--rendezvous must be env, tcp://HOST:PORT or file:///PATH, got \(spec)")
        }
        try NCCLLibrary.load()
        let context = try CUDAContext.open(ordinal: local)
        let id = try point.uniqueID(rank: rank, size: size)
        let comm = try NCCLCommunicator(rank: rank, size: size, uniqueID: id, context: context)
        if rank == 0 {
            let code = try NCCLLibrary.version()
            print("NCCL \(code / 10000).\(code / 100 % 100).\(code % 100), \(size) ranks (one process each; rank 0 on "
                + "\(context.deviceName)), NCCL_NVLS_ENABLE=0")
        }
        for shape in shapes {
            try EPBenchRun(shape: shape, ranks: size, fp8: dispatch == "fp8", iterations: iterations).measure(communicators: [comm])
        }
        guard !bandwidthOnly else { return }
        let kernels = try GPUKernels(context: context, cache: try KernelCache())
        try measureLayer(shapes: shapes, ranks: size, communicators: [comm], device: context.deviceName) { _, body in
            [try body(comm, kernels)]
        }
    }
}

/// One ep-bench shape: plans every rank's dispatch from seeded routing, then times NCCL dispatch and combine.
struct EPBenchRun {
    var shape: EPBenchCommand.Shape
    var ranks: Int
    var fp8: Bool
    var iterations: Int

    /// Bytes of one dispatched row: bf16, or FP8 codes plus one fp32 scale per 128 values.
    var dispatchRowBytes: Int { fp8 ? shape.hidden + 4 * ((shape.hidden + 127) / 128) : 2 * shape.hidden }
    var combineRowBytes: Int { 2 * shape.hidden }

    func measure(communicators: [NCCLCommunicator]) throws {
        let tokens = shape.fixedTokensPerRank ?? shape.totalTokens / ranks
        let placement = try SwitchyardParallel.ExpertPlacement.contiguous(experts: shape.experts, ranks: ranks)
        let plans = try (0..<ranks).map { rank in
            try DispatchPlan(
                expertIndex: Self.uniformRouting(tokens: tokens, experts: shape.experts, topK: shape.topK, seed: UInt64(rank)),
                tokens: tokens, topK: shape.topK, placement: placement, sourceRank: rank)
        }
        // counts[source][destination], in rows.
        let counts = plans.map(\.sendCounts)
        let slowest = try Self.maxOverRanks(
            [try time(communicators, counts: counts, rowBytes: dispatchRowBytes),
             try time(communicators, counts: transpose(counts), rowBytes: combineRowBytes)], communicators: communicators)
        let dispatch = slowest[0], combine = slowest[1]
        guard communicators.contains(where: { $0.rank == 0 }) else { return }

        guard ranks > 1 else {
            let rows = counts[0][0]
            print("\(shape.name): one rank, \(tokens) tokens, NCCL self all-to-all of \(rows) rows: dispatch "
                + "\(Self.format(dispatch * 1e6)) µs, combine \(Self.format(combine * 1e6)) µs, received bytes checked "
                + "(a smoke test of the NCCL path; bandwidth needs 2 or more GPUs)")
            return
        }
        let remoteRows = (0..<ranks).map { r in plans[r].remoteRows(sourceRank: r) }
        let meanRemote = Double(remoteRows.reduce(0, +)) / Double(ranks)
        let hits = (0..<ranks).map { j in Double((0..<ranks).reduce(0) { $0 + counts[$1][j] }) / Double(ranks * tokens) }
        func predicted(_ rowBytes: Int) -> Double {
            let model = CommunicationModel(hardware: .h100SXM)
            return model.seconds(
                CommunicationModel.traffic(
                    tokens: tokens, bytesPerCopy: Double(rowBytes), rankHits: hits, nodeHits: [1],
                    topology: ClusterTopology(gpusPerNode: ranks, nodes: 1), algorithm: .flat))
        }
        print("\(shape.name): \(tokens) tokens a rank, d \(shape.hidden), E \(shape.experts), top-\(shape.topK), EP\(ranks), "
            + "\(Self.format(meanRemote / Double(tokens), decimals: 2)) remote copies a token")
        for (name, seconds, rowBytes) in [("dispatch", dispatch, dispatchRowBytes), ("combine", combine, combineRowBytes)] {
            let bytes = meanRemote * Double(rowBytes)
            let model = predicted(rowBytes)
            print("  \(name) \(fp8 && name == "dispatch" ? "fp8" : "bf16"): \(Self.format(seconds * 1e6)) µs, "
                + "\(Self.format(bytes / seconds / 1e9)) GB/s per rank (\(Self.format(bytes / 1e6)) MB sent a rank); "
                + "model \(Self.format(model * 1e6)) µs, \(Self.format(bytes / model / 1e9)) GB/s")
        }
    }

    /// Median seconds of one all-to-all-v with `counts[source][destination]` rows of `rowBytes`, all ranks issued
    /// from this thread in one NCCL group; a rank's time runs from its start event to its end event, the
    /// all-to-all's time is the slowest rank's.
    private func time(_ communicators: [NCCLCommunicator], counts: [[Int]], rowBytes: Int) throws -> Double {
        let buffers = try communicators.map { comm -> (send: DeviceBuffer, receive: DeviceBuffer) in
            let sent = counts[comm.rank].reduce(0, +) * rowBytes
            let received = counts.reduce(0) { $0 + $1[comm.rank] } * rowBytes
            let send = try comm.context.allocate(bytes: max(sent, 1))
            try send.fill(byte: Self.pattern(rank: comm.rank))
            return (send, try comm.context.allocate(bytes: max(received, 1)))
        }
        let events = try communicators.map { (try CUDAEvent(context: $0.context), try CUDAEvent(context: $0.context)) }
        var samples: [Double] = []
        for iteration in 0..<(iterations + 3) {
            for (r, comm) in communicators.enumerated() { try events[r].0.record(on: comm.stream) }
            try NCCLLibrary.group {
                for comm in communicators {
                    let r = comm.rank
                    let sendCounts = counts[r].map { $0 * rowBytes }
                    let receiveCounts = counts.map { $0[r] * rowBytes }
                    try comm.allToAllV(
                        send: TensorView(address: UInt(buffers[r].send.address), shape: [max(sendCounts.reduce(0, +), 1)],
                                         dtype: .uint8, device: .cuda),
                        sendCounts: sendCounts,
                        receive: TensorView(address: UInt(buffers[r].receive.address),
                                            shape: [max(receiveCounts.reduce(0, +), 1)], dtype: .uint8, device: .cuda),
                        receiveCounts: receiveCounts)
                }
            }
            for (r, comm) in communicators.enumerated() { try events[r].1.record(on: comm.stream) }
            var slowest = 0.0
            for (start, end) in events {
                try end.synchronize()
                slowest = max(slowest, Double(try end.elapsedMilliseconds(since: start)) / 1e3)
            }
            if iteration >= 3 { samples.append(slowest) }
        }
        // Each received segment must hold its source rank's byte pattern.
        for comm in communicators {
            let r = comm.rank
            let received = try buffers[r].receive.download(UInt8.self, count: counts.reduce(0) { $0 + $1[r] } * rowBytes)
            var offset = 0
            for source in 0..<communicators.count {
                let length = counts[source][r] * rowBytes
                if let bad = received[offset..<(offset + length)].firstIndex(where: { $0 != Self.pattern(rank: source) }) {
                    throw ValidationError("rank \(r) received byte \(received[bad]) at \(bad) from rank \(source), expected \(Self.pattern(rank: source))")
                }
                offset += length
            }
        }
        return samples.sorted()[samples.count / 2]
    }

    /// The largest of each value over the ranks: the values themselves when this process drives every rank, else
    /// an NCCL all-reduce (max) across the processes.
    static func maxOverRanks(_ values: [Double], communicators: [NCCLCommunicator]) throws -> [Double] {
        guard let comm = communicators.first, communicators.count < comm.size, !values.isEmpty else { return values }
        let buffer = try comm.context.allocate(bytes: values.count * 8)
        try buffer.upload(values)
        let view = TensorView(address: UInt(buffer.address), shape: [values.count], dtype: .float64, device: .cuda)
        try comm.allReduce(send: view, receive: view, count: values.count, op: .max)
        try comm.stream.synchronize()
        return try buffer.download(Double.self, count: values.count)
    }

    /// The byte a rank's send buffer is filled with.
    static func pattern(rank: Int) -> UInt8 { UInt8(truncatingIfNeeded: 0x3C &+ 37 &* rank) }

    private func transpose(_ counts: [[Int]]) -> [[Int]] {
        counts.indices.map { r in counts.map { $0[r] } }
    }

    /// K distinct experts a token, uniformly at random, from a seeded generator.
    static func uniformRouting(tokens: Int, experts: Int, topK: Int, seed: UInt64) -> [Int32] {
        var generator = SeededGenerator(seed: 0x5EED &+ seed)
        var index = [Int32](repeating: 0, count: tokens * topK)
        var taken = [Bool](repeating: false, count: experts)
        for t in 0..<tokens {
            var k = 0
            while k < topK {
                let e = Int(generator.next() % UInt64(experts))
                if taken[e] { continue }
                taken[e] = true
                index[t * topK + k] = Int32(e)
                k += 1
            }
            for k in 0..<topK { taken[Int(index[t * topK + k])] = false }
        }
        return index
    }

    /// `value` with `decimals` decimals (none from 100 up), without Foundation.
    static func format(_ value: Double, decimals: Int = 1) -> String {
        let places = value >= 100 ? 0 : decimals
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        return places == 0 ? String(Int(rounded)) : String(rounded)
    }
}

/// End-to-end time of the GPU expert-parallel layer at one ep-bench shape: forward, and forward + backward, with
/// one token chunk (the plain sequence) and with `chunks` (dispatch and combine beside the experts). Weights are
/// seeded on the device, the router (replicated) on the host; every rank times its own calls (host clock, from the
/// call to its stream's end) and the slowest rank's median is reported.
struct EPLayerTiming {
    var shape: EPBenchCommand.Shape
    var ranks: Int
    var chunks: Int
    var iterations: Int
    /// FP8 dispatch; the last run also measures its effect on O against bf16 dispatch.
    var fp8: Bool

    /// One rank's figures (seconds, bytes; `plain` for the single-device layer at one rank).
    struct Sample: Sendable {
        var forward: Double, step: Double, bytes: Int, planning: Double, plain: (Double, Double)?, fp8Error: Double?
    }
    /// Runs a per-rank body (communicator, kernels) → Sample on every rank this process drives, for `chunks` chunks.
    typealias Runner = (_ chunks: Int, _ body: @escaping @Sendable (any DeviceCommunicator, GPUKernels) throws -> Sample) throws
        -> [Sample]

    func measure(model: ExpertParallelModel, communicators: [NCCLCommunicator], run: Runner) throws {
        let printing = communicators.contains { $0.rank == 0 }
        let memory = Double(communicators[0].context.totalMemory)
        let tokens = shape.fixedTokensPerRank ?? shape.totalTokens / ranks
        let config = try MoEConfig(
            hidden: shape.hidden, intermediate: shape.intermediate, experts: shape.experts, topK: shape.topK,
            router: RouterConfig(kind: .softmaxTopK(renormalize: true)))
        let placement = try SwitchyardParallel.ExpertPlacement.contiguous(experts: shape.experts, ranks: ranks)
        var generator = SeededGenerator(seed: 7)
        let router = HostTensor.randomNormal(shape: [shape.hidden, shape.experts], generator: &generator)
        let bias = Tensor<Float>(zeros: [shape.experts])
        // Expert weights a rank holds: bf16 packed and canonical, fp32 gradients and their sum over chunks.
        let slots = (shape.experts + ranks - 1) / ranks
        let weightBytes = Double(slots * shape.hidden * 3 * shape.intermediate) * 12
        guard weightBytes < 0.8 * memory else {
            guard printing else { return }
            print("\(shape.name) EP layer end to end, \(ranks) rank\(ranks == 1 ? "" : "s"): skipped: \(slots) experts a rank "
                + "need \(EPBenchRun.format(weightBytes / 1e9)) GB of weights and weight gradients, the GPU has "
                + "\(EPBenchRun.format(memory / 1e9)) GB (more ranks share them)")
            return
        }
        var rows: [String] = []
        for chunkCount in Array(Set([1, chunks])).sorted() {
            let iterations = self.iterations
            let fp8 = self.fp8
            let perRank = try run(chunkCount) { comm, kernels -> Sample in
                let context = kernels.context
                let slots = placement.slots[comm.rank].count, d = config.hidden, n = config.intermediate
                let layer: GPUExpertParallelLayer
                var plainLayer: GPUMoELayer?
                do {  // the seeded weights are only read while the layers pack their own copies
                    let w1 = try context.allocate(bytes: slots * d * 2 * n * 2), w2 = try context.allocate(bytes: slots * n * d * 2)
                    try kernels.fillRandomBF16(address: w1.address, count: slots * d * 2 * n, seed: 11 + UInt64(comm.rank), scale: 0.02)
                    try kernels.fillRandomBF16(address: w2.address, count: slots * n * d, seed: 97 + UInt64(comm.rank), scale: 0.02)
                    layer = try GPUExpertParallelLayer(
                        kernels: kernels, config: config, router: router, routerBias: bias, w1: w1.address, w2: w2.address,
                        placement: placement, communicator: comm, chunks: chunkCount, dispatchFormat: fp8 ? .fp8 : .native)
                    if comm.size == 1 && chunkCount == 1 {  // the single-device layer on the same weights, for reference
                        let wr = try context.allocate(bytes: d * config.experts * 2)
                        try wr.upload(router.scalars.map { BFloat16($0).bitPattern })
                        plainLayer = try GPUMoELayer(kernels: kernels, config: config, router: wr.address,
                                                     routerBias: bias.scalars, w1: w1.address, w2: w2.address)
                    }
                }
                let x = try context.allocate(bytes: tokens * d * 2), dO = try context.allocate(bytes: tokens * d * 2)
                try kernels.fillRandomBF16(address: x.address, count: tokens * d, seed: 3 + UInt64(comm.rank), scale: 1)
                try kernels.fillRandomBF16(address: dO.address, count: tokens * d, seed: 5 + UInt64(comm.rank), scale: 1)
                let stream = try CUDAStream(context: context)
                let clock = ContinuousClock()
                func seconds(_ duration: Duration) -> Double {
                    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
                }
                func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
                var forward: [Double] = [], step: [Double] = [], planning: [Double] = []
                for iteration in 0..<(iterations + 2) {
                    let start = clock.now
                    let pass = try layer.forward(input: x.address, tokens: tokens, stream: stream)
                    try stream.synchronize()
                    let forwardEnd = clock.now
                    _ = try layer.backward(pass, outputGradient: dO.address, input: x.address, stream: stream)
                    try stream.synchronize()
                    if iteration >= 2 {
                        forward.append(seconds(forwardEnd - start))
                        step.append(seconds(clock.now - start))
                        planning.append(seconds(layer.hostTimes.planning))
                    }
                }
                var plain: (Double, Double)?
                if let plainLayer {
                    let workspace = try GPUWorkspace(layer: plainLayer, capacity: tokens)
                    let gradients = try GPUGradients(layer: plainLayer, capacity: tokens)
                    var f: [Double] = [], b: [Double] = []
                    for iteration in 0..<(iterations + 2) {
                        let start = clock.now
                        try plainLayer.forward(input: x.address, tokens: tokens, workspace: workspace, stream: stream)
                        try stream.synchronize()
                        let forwardEnd = clock.now
                        try plainLayer.backward(outputGradient: dO.address, input: x.address, tokens: tokens,
                                                workspace: workspace, gradients: gradients, stream: stream)
                        try stream.synchronize()
                        if iteration >= 2 { f.append(seconds(forwardEnd - start)); b.append(seconds(clock.now - start)) }
                    }
                    plain = (median(f), median(b))
                }
                // FP8's effect on this rank's O: relative L2 against the same forward with bf16 dispatch.
                var fp8Error: Double?
                if fp8 {
                    func output(_ format: ExpertParallelOptions.DispatchFormat) throws -> [Float] {
                        layer.dispatchFormat = format
                        let pass = try layer.forward(input: x.address, tokens: tokens, stream: stream)
                        try stream.synchronize()
                        return try pass.output.download(UInt16.self, count: tokens * d).map { BFloat16(bitPattern: $0).floatValue }
                    }
                    fp8Error = relativeError(try output(.fp8), try output(.native))
                    layer.dispatchFormat = .fp8
                }
                return Sample(forward: median(forward), step: median(step), bytes: layer.workingBytes,
                              planning: median(planning), plain: plain, fp8Error: fp8Error)
            }
            let reduced = try EPBenchRun.maxOverRanks(
                [perRank.map(\.forward).max()!, perRank.map(\.step).max()!, Double(perRank.map(\.bytes).max()!),
                 perRank.map(\.planning).max()!, perRank.compactMap(\.fp8Error).max() ?? -1],
                communicators: communicators)
            let forward = reduced[0], step = reduced[1], gib = reduced[2] / Double(1 << 30), planning = reduced[3]
            // The model's busiest rank: kernels of its share of the rows, dispatch and combine pipelined over the chunks
            // (bf16 traffic; FP8 dispatch is not modelled apart).
            let estimate = try model.estimate(
                LayerWorkload(tokens: tokens, hidden: shape.hidden, intermediate: shape.intermediate, experts: shape.experts,
                              topK: shape.topK),
                parallel: ExpertParallelConfig(topology: ClusterTopology(gpusPerNode: ranks, nodes: 1), chunks: chunkCount))
            rows.append("  \(chunkCount) chunk\(chunkCount == 1 ? "" : "s"): forward \(EPBenchRun.format(forward * 1e3, decimals: 2)) ms, "
                + "forward+backward \(EPBenchRun.format(step * 1e3, decimals: 2)) ms (slowest rank, median of \(iterations)); "
                + "model \(EPBenchRun.format(estimate.forwardSeconds * 1e3, decimals: 2)) / "
                + "\(EPBenchRun.format(estimate.totalSeconds * 1e3, decimals: 2)) ms; "
                + "host planning \(EPBenchRun.format(planning * 1e3, decimals: 2)) ms of the forward; "
                + "working buffers \(EPBenchRun.format(gib, decimals: 2)) GiB a rank")
            if reduced[4] >= 0, case let worst = reduced[4] {
                rows.append("  FP8 dispatch changes O by \(format(worst)) relative L2 against bf16 dispatch (worst rank)")
            }
            if let plain = perRank[0].plain {
                rows.append("  single-device layer, same weights and tokens: forward \(EPBenchRun.format(plain.0 * 1e3, decimals: 2)) ms, "
                    + "forward+backward \(EPBenchRun.format(plain.1 * 1e3, decimals: 2)) ms (host clock, as above)")
            }
        }
        guard printing else { return }
        print("\(shape.name) EP layer end to end, \(ranks) rank\(ranks == 1 ? "" : "s") × \(tokens) tokens, n \(shape.intermediate), "
            + "\(fp8 ? "FP8" : "bf16") dispatch:")
        for row in rows { print(row) }
        if ranks == 1 { print("  (one rank: every row stays on this GPU, so this is the layer's own overhead, not overlap)") }
    }
}
