import ArgumentParser
import Switchyard
import SwitchyardCUDA
import SwitchyardModel
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the layer on the chosen device: ms, TFLOP/s (as MOE.md counts them) and activation memory.",
        discussion: """
            Runs the named configurations of MOE.md (all of them by default on a GPU), or one shape given by \
            --tokens/--hidden/--intermediate/--experts/--top-k. GPU timing: CUDA events around each forward pass \
            after warm-up, median of --iterations runs; weights and inputs are random (seeded) bf16 made on the device. \
            TFLOP/s counts expert FLOPs only (forward 6·T·K·n·d); the router is timed but not counted. \
            "SM MHz", "W" and "°C" are NVML's SM clock, board power and GPU temperature, medians of one reading per \
            timed run while the GPU works ("–" without NVML): a power-capped card's clock sets its times. \
            "act GiB" is MOE.md's peak activation memory: everything the forward pass allocates, O included, weights \
            and X not (Y exists one column chunk of d, at most 1 GiB, at a time); "bwd act GiB" is what the backward pass \
            allocates beside it (dX, dH, A′, dZ, ...; forward + backward is the sum; the weight gradients are \
            listed in the JSON apart, dW1 and dW2 in fp32 unless --weight-gradients bf16). \
            On the CPU, shapes default to T = 4096.
            """)

    @OptionGroup var devices: DeviceOptions
    @Option(name: .customLong("shape"), help: "A named configuration (repeatable), e.g. 7B-n256. Default: all of MOE.md's sweep.")
    var shapes: [String] = []
    @Option(help: "Tokens T (overrides the named shape's T).") var tokens: Int?
    @Option(help: "Hidden size d (with --intermediate, --experts, --top-k: a custom shape).") var hidden: Int?
    @Option(help: "Expert intermediate size n.") var intermediate: Int?
    @Option(help: "Experts E.") var experts: Int?
    @Option(name: .customLong("top-k"), help: "Experts per token K.") var topK: Int?
    @Flag(help: "Also time forward+backward; backward time = (forward+backward) − forward, counted as 12·T·K·n·d.")
    var backward = false
    @Option(name: .customLong("chunk-columns"),
            help: "GPU: columns of d per chunk of the down-projection/combine and dX, a multiple of 64 (default: the fewest chunks with Y ≤ 1 GiB each); smaller saves activation memory and costs some speed.")
    var chunkColumns: Int?
    @Option(name: .customLong("activation-budget"),
            help: "GPU: the forward's activation memory allowed, in GiB (the \"act GiB\" column): each shape runs in the widest column chunks of 256 that fit with A kept, else without A (the down-projection computes it from H), else in narrower chunks (instead of --chunk-columns); an error names the least a shape needs.")
    var activationBudget: Double?
    @Option(name: .customLong("weight-gradients"),
            help: """
                GPU, with --backward: the dtype of dW1 and dW2, fp32 (for fp32 master weights) or bf16 (what PyTorch \
                returns for bf16 parameters, as in its baseline).
                """)
    var weightGradients: WeightGradientPrecision = .float32
    @Option(help: "Warm-up runs before timing.") var warmup: Int = 5
    @Option(name: .customLong("warmup-seconds"),
            help: """
                GPU: after the warm-up runs, keep running each timed loop's work for this long before timing it. \
                A power-capped card sets its clock from the last second or so of load: with a short warm-up a shape \
                is timed at the clock the previous shape left (measured: the same shape 3-7% apart depending on what \
                ran before it). 0 turns it off.
                """)
    var warmupSeconds: Double = 1
    @Flag(inversion: .prefixedNo,
          help: "GPU: read the SM clock, power and temperature (NVML) once per timed run, after it is enqueued.")
    var telemetry = true
    @Option(help: "Timed runs; the median is reported.") var iterations: Int = 20
    @Option(help: "Write the results as JSON to this file ('-' for stdout).") var json: String?
    @Option(help: "Hardware of the performance model whose prediction is printed beside each GPU measurement (default: the part the GPU's name says, h100 when it names none).")
    var hardware: String?
    @Option(help: "JSON file of measured ceilings and calibration for the model (see docs/performance-model.md; default: the committed fit of the part, bench/hardware/h200-fit-b691575.json or h100-sxm-fit-abaf0e3.json, vendor defaults outside the repository).")
    var calibration: String?

    struct Row: Codable {
        var config: String
        var device: String
        var tokens, hidden, intermediate, experts, topK: Int
        var forwardMs: Double
        var forwardMinMs: Double
        var forwardTFLOPS: Double
        /// Peak activation memory of the forward pass (MOE.md: allocated during forward minus weights and inputs):
        /// the workspace, output O included, GiB.
        var activationGiB: Double
        /// Columns of d per chunk of the down-projection/combine and dX (= d when not chunked).
        var chunkColumns: Int?
        var backwardMs: Double?
        var backwardTFLOPS: Double?
        /// Activation-sized buffers of the backward pass (dX, dH, A′, dZ, dS, ...; the weight gradients excluded), GiB.
        /// Peak activation memory of forward+backward = activationGiB + this.
        var backwardActivationGiB: Double?
        /// The weight gradients dWr (fp32), dW1, dW2 (in `weightGradientDType`), GiB.
        var weightGradientGiB: Double?
        /// fp32 or bf16: the dtype of dW1 and dW2.
        var weightGradientDType: String?
        var predictedForwardMs: Double?
        var predictedBackwardMs: Double?
        /// NVML's SM clock (MHz), board power (W) and GPU temperature (°C), medians of one sample per timed run of
        /// the last timed loop (forward + backward with --backward), taken while the GPU works; nil without NVML.
        var smClockMHz: Int?
        var powerWatts: Double?
        var temperatureCelsius: Int?
    }

    func selectedShapes(defaultTokens: Int?) throws -> [NamedShape] {
        if let d = hidden, let n = intermediate, let e = experts, let k = topK {
            let t = tokens ?? 4096
            return [NamedShape(name: "custom", tokens: t, hidden: d, intermediate: n, experts: e, topK: k)]
        }
        if hidden != nil || intermediate != nil || experts != nil || topK != nil {
            throw ValidationError("a custom shape needs all of --hidden, --intermediate, --experts and --top-k")
        }
        let names = shapes.isEmpty ? NamedShape.all.prefix(12).map(\.name) : shapes
        return try names.map { name in
            guard var shape = NamedShape.named(name) else {
                throw ValidationError("unknown shape '\(name)'; known: \(NamedShape.all.map(\.name).joined(separator: ", "))")
            }
            if let t = tokens ?? defaultTokens { shape.tokens = t }
            return shape
        }
    }

    func run() async throws {
        guard warmup >= 0, iterations > 0 else { throw ValidationError("--warmup must be ≥ 0 and --iterations > 0") }
        guard warmupSeconds >= 0, warmupSeconds <= 600 else { throw ValidationError("--warmup-seconds must be in 0 ... 600") }
        if let c = chunkColumns, c < 64 || c % 64 != 0 {
            throw ValidationError("--chunk-columns must be a positive multiple of 64")
        }
        if let budget = activationBudget {
            guard chunkColumns == nil else { throw ValidationError("give --chunk-columns or --activation-budget, not both") }
            guard budget.isFinite, budget > 0 else { throw ValidationError("--activation-budget must be a positive number of GiB") }
        }
        let backend = try makeBackend(devices.device)
        var rows: [Row] = []
        if let gpu = backend as? GPUBackend {
            let list = try selectedShapes(defaultTokens: nil)
            let (machine, factors, calibrationFile) = try ModelCalibration.resolve(
                hardware: hardware, calibration: calibration, device: gpu.description)
            let model = PerformanceModel(hardware: machine, calibration: factors)
            print("bench on \(gpu.description), median of \(iterations) after \(warmup) warm-up runs and \(fixed(warmupSeconds, 1)) s; "
                  + (backward ? "dW1, dW2 in \(weightGradients.rawValue); " : "")
                  + "model: \(machine.name)\(calibrationFile.map { " calibrated by \($0)" } ?? " (vendor defaults)")")
            var readings: GPUTelemetry?
            if telemetry {
                switch GPUTelemetry.open(gpu.kernels.context) {
                case .success(let opened): readings = opened
                case .failure(let reason): note("no clock or power readings: \(reason)")
                }
            }
            var header = pad("config", 12) + pad("T", 7) + pad("fwd ms", 10) + pad("TFLOP/s", 9) + pad("act GiB", 9)
                + pad("model ms", 10)
            if backward { header += pad("bwd ms", 10) + pad("TFLOP/s", 9) + pad("model ms", 10) + pad("bwd act GiB", 12) }
            header += pad("SM MHz", 8) + pad("W", 6) + "°C"
            print(header)
            for (i, shape) in list.enumerated() {
                note("[\(i + 1)/\(list.count)] \(shape.name): building the layer on the device")
                var row = try benchGPU(gpu, shape, telemetry: readings)
                var workload = LayerWorkload(shape: shape)
                workload.weightGradientBytes = weightGradients.elementBytes
                let estimate = model.estimate(workload)
                row.predictedForwardMs = estimate.forwardSeconds * 1e3
                if row.backwardMs != nil { row.predictedBackwardMs = estimate.backwardSeconds * 1e3 }
                rows.append(row)
                var line = pad(row.config, 12) + pad("\(row.tokens)", 7) + pad(fixed(row.forwardMs, 3), 10)
                    + pad(fixed(row.forwardTFLOPS, 1), 9) + pad(fixed(row.activationGiB, 2), 9)
                    + pad(fixed(row.predictedForwardMs ?? .nan, 3), 10)
                if let ms = row.backwardMs, let tf = row.backwardTFLOPS, let gib = row.backwardActivationGiB {
                    line += pad(fixed(ms, 3), 10) + pad(fixed(tf, 1), 9) + pad(fixed(row.predictedBackwardMs ?? .nan, 3), 10)
                        + pad(fixed(gib, 2), 12)
                }
                let clock: String = row.smClockMHz.map { "\($0)" } ?? "–"
                let watts: String = row.powerWatts.map { "\(Int($0.rounded()))" } ?? "–"
                let celsius: String = row.temperatureCelsius.map { "\($0)" } ?? "–"
                line += pad(clock, 8) + pad(watts, 6) + celsius
                print(line)
            }
        } else {
            let list = try selectedShapes(defaultTokens: 4096)
            print("bench on \(backend.description)")
            for shape in list {
                let row = try benchCPU(backend, shape)
                rows.append(row)
                print("\(row.config) T=\(row.tokens): forward \(fixed(row.forwardMs, 1)) ms, \(fixed(row.forwardTFLOPS * 1000, 1)) GFLOP/s")
            }
        }
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try encoder.encode(rows)
            if json == "-" { print(String(decoding: data, as: UTF8.self)) } else { try data.write(to: URL(fileURLWithPath: json)) }
        }
    }

    private func benchGPU(_ gpu: GPUBackend, _ shape: NamedShape, telemetry: GPUTelemetry?) throws -> Row {
        let config = try shape.config()
        let kernels = gpu.kernels
        let context = kernels.context
        let T = shape.tokens, d = shape.hidden, n = shape.intermediate, E = shape.experts
        var chunkColumns = chunkColumns
        var keepsActivation = true
        if let budget = activationBudget {
            let plan = try ColumnChunks.plan(hidden: d, intermediate: n, experts: E, topK: shape.topK, capacity: T,
                                             activationBudget: Int(budget * Double(1 << 30)),
                                             activationFree: kernels.tmaWeights)
            let how = plan.keepsActivation ? "" : ", A not kept (computed from H by the down-projection)"
            note("\(shape.name): column chunks of \(plan.columns)\(how) for an activation budget of \(budget) GiB")
            chunkColumns = plan.columns
            keepsActivation = plan.keepsActivation
        }
        // Weights and X in the canonical layout, made on the device (seeded), then packed.
        let router = try context.allocate(bytes: d * E * 2)
        let w1 = try context.allocate(bytes: E * d * 2 * n * 2)
        let w2 = try context.allocate(bytes: E * n * d * 2)
        let x = try context.allocate(bytes: T * d * 2)
        try kernels.fillRandomBF16(address: router.address, count: d * E, seed: 1, scale: Float(1 / Double(d).squareRoot()))
        try kernels.fillRandomBF16(address: w1.address, count: E * d * 2 * n, seed: 2, scale: Float(1 / Double(d).squareRoot()))
        try kernels.fillRandomBF16(address: w2.address, count: E * n * d, seed: 3, scale: Float(1 / Double(n).squareRoot()))
        try kernels.fillRandomBF16(address: x.address, count: T * d, seed: 4, scale: 1)
        let layer = try GPUMoELayer(kernels: kernels, config: config, router: router.address,
                                    routerBias: [Float](repeating: 0, count: E), w1: w1.address, w2: w2.address)
        let workspace = try GPUWorkspace(layer: layer, capacity: T, chunkColumns: chunkColumns,
                                         keepsActivation: keepsActivation)
        let stream = try CUDAStream(context: context)
        let start = try CUDAEvent(context: context), stop = try CUDAEvent(context: context)
        try warmUp(stream) { try layer.forward(input: x.address, tokens: T, workspace: workspace, stream: stream) }
        var times: [Double] = []
        // Readings of the loop the row reports last (forward + backward with --backward), one per run, taken while
        // the GPU still works on it.
        var samples: [GPUTelemetry.Sample] = []
        let forwardTelemetry = backward ? nil : telemetry
        for _ in 0..<iterations {
            try start.record(on: stream)
            try layer.forward(input: x.address, tokens: T, workspace: workspace, stream: stream)
            try stop.record(on: stream)
            if let sample = forwardTelemetry?.sample() { samples.append(sample) }
            try stop.synchronize()
            times.append(Double(try stop.elapsedMilliseconds(since: start)))
        }
        times.sort()
        let median = times[times.count / 2]
        var row = Row(config: shape.name, device: gpu.description, tokens: T, hidden: d, intermediate: n, experts: E,
                      topK: shape.topK, forwardMs: median, forwardMinMs: times[0],
                      forwardTFLOPS: shape.forwardFLOPs / (median * 1e-3) / 1e12,
                      activationGiB: Double(workspace.byteCount) / Double(1 << 30), chunkColumns: workspace.chunkColumns)
        if backward {
            let dO = try context.allocate(bytes: T * d * 2)
            try kernels.fillRandomBF16(address: dO.address, count: T * d, seed: 5, scale: 1)
            let gradients = try GPUGradients(layer: layer, capacity: T, chunkColumns: chunkColumns,
                                             weightPrecision: weightGradients)
            func step() throws {
                try layer.forward(input: x.address, tokens: T, workspace: workspace, stream: stream)
                try layer.backward(outputGradient: dO.address, input: x.address, tokens: T, workspace: workspace,
                                   gradients: gradients, stream: stream)
            }
            try warmUp(stream, step)
            var both: [Double] = []
            for _ in 0..<iterations {
                try start.record(on: stream)
                try step()
                try stop.record(on: stream)
                if let sample = telemetry?.sample() { samples.append(sample) }
                try stop.synchronize()
                both.append(Double(try stop.elapsedMilliseconds(since: start)))
            }
            both.sort()
            let backwardMs = both[both.count / 2] - median
            row.backwardMs = backwardMs
            row.backwardTFLOPS = shape.backwardFLOPs / (backwardMs * 1e-3) / 1e12
            row.backwardActivationGiB = Double(gradients.activationBytes) / Double(1 << 30)
            row.weightGradientGiB = Double(gradients.weightGradientBytes) / Double(1 << 30)
            row.weightGradientDType = weightGradients.rawValue
        }
        if let median = GPUTelemetry.median(samples) {
            row.smClockMHz = median.smClockMHz
            row.powerWatts = median.powerWatts
            row.temperatureCelsius = median.temperatureCelsius
        }
        return row
    }

    /// `--warmup` runs of `body`, then more in batches of 4 until `--warmup-seconds` have passed; returns with the
    /// stream idle.
    private func warmUp(_ stream: CUDAStream, _ body: () throws -> Void) throws {
        for _ in 0..<warmup { try body() }
        try stream.synchronize()
        guard warmupSeconds > 0 else { return }
        let clock = ContinuousClock(), end = clock.now + .milliseconds(Int((warmupSeconds * 1000).rounded()))
        while clock.now < end {
            for _ in 0..<4 { try body() }
            try stream.synchronize()
        }
    }

    private func benchCPU(_ backend: any Backend, _ shape: NamedShape) throws -> Row {
        let config = try shape.config()
        let weights = MoEWeights<Float>.random(config: config, seed: 1)
        var g = SeededGenerator(seed: 2)
        let x = HostTensor.randomNormal(shape: [shape.tokens, shape.hidden], generator: &g)
        for _ in 0..<min(warmup, 1) { _ = try backend.forward(x, weights: weights) }
        var times: [Double] = []
        for _ in 0..<min(iterations, 3) {
            let clock = ContinuousClock()
            let elapsed = try clock.measure { _ = try backend.forward(x, weights: weights) }
            times.append(Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) * 1e-15)
        }
        times.sort()
        let median = times[times.count / 2]
        return Row(config: shape.name, device: backend.description, tokens: shape.tokens, hidden: shape.hidden,
                   intermediate: shape.intermediate, experts: shape.experts, topK: shape.topK, forwardMs: median,
                   forwardMinMs: times[0], forwardTFLOPS: shape.forwardFLOPs / (median * 1e-3) / 1e12, activationGiB: 0)
    }
}

extension WeightGradientPrecision: ExpressibleByArgument {}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }

func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (value * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    } else if digits > 0 { s += "." + String(repeating: "0", count: digits) }
    return s
}
