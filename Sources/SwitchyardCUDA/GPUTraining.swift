import Switchyard

/// A student MoE layer learning a fixed random teacher layer on the GPU: the device twin of ``TeacherStudent``.
///
/// Everything stays on the device: X is drawn there each step (seeded), the loss L = mean over T·d of
/// (O_student − O_teacher)² and dO = 2(O_student − O_teacher)/(T·d) come from one kernel, the student's fp32 master
/// weights (canonical layouts Wr [d, E], W1 [E, d, 2n], W2 [E, n, d]) are updated by an AdamW kernel that also writes
/// their bf16 copy, the layer's kernel layouts are re-packed from it, and the sigmoid-bias router's score-correction
/// bias gets the aux-loss-free update from the step's expert counts. ``step()`` only enqueues work; ``loss()`` and
/// ``counts()`` wait for it and copy back one float or E integers.
///
/// ```swift
/// let run = try GPUTeacherStudent(kernels: gpu.kernels, cache: try KernelCache(), config: config, tokens: 24576,
///                                 optimizer: try AdamW(learningRate: 1e-3))
/// for step in 1...300 {
///     try run.step()
///     if step % 50 == 0 { print(step, try run.loss()) }
/// }
/// ```
public final class GPUTeacherStudent: @unchecked Sendable {
    public let config: MoEConfig
    public let tokens: Int
    /// The optimizer at the peak learning rate; ``schedule`` scales its rate per step.
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public let studentInit: StudentInit
    public let dataSeed: UInt64
    /// The router's learning rate as a multiple of the others' (Wr's steps only).
    public let routerLearningRateScale: Double
    /// Steps enqueued so far.
    public private(set) var steps = 0
    public let stream: CUDAStream
    let kernels: GPUKernels
    let functions: OptimizerFunctions
    let teacher, student: GPUMoELayer
    let teacherWorkspace, studentWorkspace: GPUWorkspace
    let gradients: GPUGradients
    let input, outputGradient, lossPartials, lossValue: DeviceBuffer
    /// The student's router weight in bf16, canonical [d, E]: AdamW writes it, the re-pack reads it.
    let routerBF16: DeviceBuffer
    let masterRouter, masterW1, masterW2: AdamWState

    /// Blocks of the loss kernel: fixed, so the loss is summed in the same order on every run.
    static let lossBlocks = 1024

    /// Builds the teacher and the student from seeded random bf16 weights made on the device (Wr, W1 scaled by
    /// d^-½, W2 by n^-½; score-correction biases start at zero), balances the teacher's bias for `calibrationSteps`
    /// and sets up the student from `studentInit` as ``TeacherStudent`` does (`sy_perturb_bf16`; the student takes
    /// the teacher's bias unless independent), and allocates every buffer a step needs. `routerLearningRateScale`
    /// multiplies the learning rate of Wr alone.
    /// Throws ``SwitchyardError`` for a layer the GPU kernels do not cover, one with aux or z losses, or a negative
    /// or non-finite router scale.
    public init(
        kernels: GPUKernels, cache: KernelCache, config c: MoEConfig, tokens: Int, optimizer: AdamW,
        schedule: LearningRateSchedule = .constant, studentInit: StudentInit = .independent, calibrationSteps: Int = 0,
        teacherSeed: UInt64 = 1, studentSeed: UInt64 = 2, dataSeed: UInt64 = 3, routerLearningRateScale: Double = 1
    ) throws {
        try GPUMoELayer.requireSupported(c)
        try TeacherStudent.validate(routerLearningRateScale: routerLearningRateScale)
        guard tokens >= 1 else { throw SwitchyardError(.invalidConfiguration, "tokens must be ≥ 1, got \(tokens)") }
        guard c.router.auxLossCoefficient == 0, c.router.zLossCoefficient == 0 else {
            throw SwitchyardError(.unsupported, "GPU training has no aux or z loss; set both coefficients to 0")
        }
        let context = kernels.context
        let d = c.hidden, n = c.intermediate, E = c.experts
        self.config = c
        self.tokens = tokens
        self.optimizer = optimizer
        self.schedule = schedule
        self.studentInit = studentInit
        self.dataSeed = dataSeed
        self.routerLearningRateScale = routerLearningRateScale
        self.kernels = kernels
        let loaded = try OptimizerFunctions(context: context, cache: cache)
        functions = loaded
        let stream = try CUDAStream(context: context)
        self.stream = stream

        /// Random canonical bf16 weights (Wr, W1, W2) from one seed.
        func randomWeights(_ seed: UInt64) throws -> (router: DeviceBuffer, w1: DeviceBuffer, w2: DeviceBuffer) {
            var generator = SeededGenerator(seed: seed)
            let router = try context.allocate(bytes: d * E * 2)
            let w1 = try context.allocate(bytes: E * d * 2 * n * 2)
            let w2 = try context.allocate(bytes: E * n * d * 2)
            let inputScale = Float(1 / Double(d).squareRoot())
            try kernels.fillRandomBF16(address: router.address, count: d * E, seed: generator.next(), scale: inputScale)
            try kernels.fillRandomBF16(address: w1.address, count: E * d * 2 * n, seed: generator.next(), scale: inputScale)
            try kernels.fillRandomBF16(address: w2.address, count: E * n * d, seed: generator.next(),
                                       scale: Float(1 / Double(n).squareRoot()))
            return (router, w1, w2)
        }
        let zeros = [Float](repeating: 0, count: E)
        let teacherWeights = try randomWeights(teacherSeed)
        let teacher = try GPUMoELayer(kernels: kernels, config: c, router: teacherWeights.router.address,
                                      routerBias: zeros, w1: teacherWeights.w1.address, w2: teacherWeights.w2.address)
        self.teacher = teacher
        let teacherWorkspace = try GPUWorkspace(layer: teacher, capacity: tokens)
        self.teacherWorkspace = teacherWorkspace
        let input = try context.allocate(bytes: tokens * d * 2)
        self.input = input
        // The teacher's bias balancing (TeacherStudent.calibrationSteps), on inputs of its own seed.
        if case .sigmoidBias = c.router.kind {
            for step in 0..<calibrationSteps {
                var generator = SeededGenerator(seed: TeacherStudent.calibrationSeed(dataSeed: dataSeed, step: step))
                try kernels.fillRandomBF16(address: input.address, count: tokens * d, seed: generator.next(), scale: 1,
                                           stream: stream)
                try teacher.forward(input: input.address, tokens: tokens, workspace: teacherWorkspace, stream: stream)
                var a = KernelArguments()
                a.append(teacherWorkspace.counts); a.append(Int32(E)); a.append(Float(c.router.biasUpdateRate))
                a.append(teacher.routerBias)
                try loaded.routerBiasUpdate.launch(grid: (1, 1, 1), block: (256, 1, 1), stream: stream, arguments: a)
            }
            try stream.synchronize()
        }
        let teacherBias = try teacher.routerBias.download(Float.self, count: E)
        let studentWeights = try randomWeights(studentSeed)
        /// Student = teacher + σ·(its random weights), in place (σ 0: a copy of the teacher's).
        func perturb(_ weight: DeviceBuffer, _ center: DeviceBuffer, count: Int, sigma: Double) throws {
            var a = KernelArguments()
            a.append(weight); a.append(center); a.append(Int64(count)); a.append(Float(sigma))
            try loaded.perturb.launch(grid: (max(min((count + 255) / 256, 8192), 1), 1, 1), block: (256, 1, 1),
                                         arguments: a)
        }
        switch studentInit {
        case .independent: break
        case .teacherRouter: try perturb(studentWeights.router, teacherWeights.router, count: d * E, sigma: 0)
        case .perturbed(let sigma):
            try perturb(studentWeights.router, teacherWeights.router, count: d * E, sigma: sigma)
            try perturb(studentWeights.w1, teacherWeights.w1, count: E * d * 2 * n, sigma: sigma)
            try perturb(studentWeights.w2, teacherWeights.w2, count: E * n * d, sigma: sigma)
        }
        student = try GPUMoELayer(kernels: kernels, config: c, router: studentWeights.router.address,
                                  routerBias: studentInit == .independent ? zeros : teacherBias,
                                  w1: studentWeights.w1.address, w2: studentWeights.w2.address)
        routerBF16 = studentWeights.router
        masterRouter = try AdamWState(kernels: kernels, from: routerBF16, count: d * E)
        masterW1 = try AdamWState(kernels: kernels, from: student.w1Canonical, count: E * d * 2 * n)
        masterW2 = try AdamWState(kernels: kernels, from: student.w2Canonical, count: E * n * d)

        studentWorkspace = try GPUWorkspace(layer: student, capacity: tokens)
        gradients = try GPUGradients(layer: student, capacity: tokens)
        outputGradient = try context.allocate(bytes: tokens * d * 2)
        lossPartials = try context.allocate(bytes: Self.lossBlocks * 4)
        lossValue = try context.allocate(bytes: 4)
        try context.synchronize()
    }

    /// Enqueues one training step on ``stream``; nothing here waits for the GPU.
    public func step() throws {
        steps += 1
        let c = config, T = tokens, d = c.hidden
        var generator = SeededGenerator(seed: dataSeed &+ UInt64(steps) &* 0x9E37_79B9_7F4A_7C15)
        try kernels.fillRandomBF16(address: input.address, count: T * d, seed: generator.next(), scale: 1, stream: stream)
        try teacher.forward(input: input.address, tokens: T, workspace: teacherWorkspace, stream: stream)
        try student.forward(input: input.address, tokens: T, workspace: studentWorkspace, stream: stream)

        let count = T * d
        var a = KernelArguments()
        a.append(studentWorkspace.output); a.append(teacherWorkspace.output); a.append(Int64(count))
        a.append(Float(2 / Double(count))); a.append(outputGradient); a.append(lossPartials)
        try functions.mseLossGrad.launch(grid: (Self.lossBlocks, 1, 1), block: (256, 1, 1), stream: stream, arguments: a)
        a = KernelArguments()
        a.append(lossPartials); a.append(Int32(Self.lossBlocks)); a.append(Float(1 / Double(count))); a.append(lossValue)
        try functions.lossSum.launch(grid: (1, 1, 1), block: (256, 1, 1), stream: stream, arguments: a)

        try student.backward(outputGradient: outputGradient.address, input: input.address, tokens: T,
                             workspace: studentWorkspace, gradients: gradients, stream: stream)
        let multiplier = schedule.multiplier(step: steps)
        var optimizer = optimizer
        optimizer.learningRate *= multiplier
        let corrections = optimizer.biasCorrections(step: steps)
        var routerOptimizer = optimizer
        routerOptimizer.learningRate *= routerLearningRateScale
        try masterRouter.update(gradient: gradients.router, bf16: routerBF16.address, optimizer: routerOptimizer,
                                corrections: corrections, functions: functions, stream: stream)
        try masterW1.update(gradient: gradients.w1, bf16: student.w1Canonical.address, optimizer: optimizer,
                            corrections: corrections, functions: functions, stream: stream)
        try masterW2.update(gradient: gradients.w2, bf16: student.w2Canonical.address, optimizer: optimizer,
                            corrections: corrections, functions: functions, stream: stream)
        try student.repack(router: routerBF16.address, stream: stream)

        if case .sigmoidBias = c.router.kind {
            // γ follows the schedule; the teacher's bias takes the same step from its own loads, as in TeacherStudent.
            let rate = Float(c.router.biasUpdateRate * multiplier)
            let layers = [(studentWorkspace.counts, student.routerBias), (teacherWorkspace.counts, teacher.routerBias)]
            for (counts, bias) in layers {
                a = KernelArguments()
                a.append(counts); a.append(Int32(c.experts)); a.append(rate); a.append(bias)
                try functions.routerBiasUpdate.launch(grid: (1, 1, 1), block: (256, 1, 1), stream: stream, arguments: a)
            }
        }
    }

    /// The loss of the last step's forward pass (before its update); waits for the stream, copies one float.
    public func loss() throws -> Double {
        try stream.synchronize()
        return Double(try lossValue.download(Float.self, count: 1)[0])
    }

    /// The student's assignments per expert in the last step; waits for the stream, copies E integers.
    public func counts() throws -> [Int32] {
        try stream.synchronize()
        return try studentWorkspace.counts.download(Int32.self, count: config.experts)
    }

    /// The fraction of the student's assignments in the last step whose expert the teacher did not choose for that
    /// token (``routingDisagreement(student:teacher:topK:)``); waits for the stream, copies 2·T·K integers.
    public func misrouted() throws -> Double {
        try stream.synchronize()
        let count = tokens * config.topK
        return routingDisagreement(student: try studentWorkspace.expertIndex.download(Int32.self, count: count),
                                   teacher: try teacherWorkspace.expertIndex.download(Int32.self, count: count),
                                   topK: config.topK)
    }
}

/// One tensor's AdamW state on the device: fp32 master weights and the two moments (zero before step 1).
final class AdamWState: @unchecked Sendable {
    let count: Int
    let master, firstMoment, secondMoment: DeviceBuffer

    /// Master weights converted from `count` bf16 values at `source`.
    init(kernels: GPUKernels, from source: DeviceBuffer, count: Int) throws {
        let context = kernels.context
        self.count = count
        master = try context.allocate(bytes: count * 4)
        firstMoment = try context.allocate(bytes: count * 4)
        secondMoment = try context.allocate(bytes: count * 4)
        try firstMoment.fill(byte: 0)
        try secondMoment.fill(byte: 0)
        var a = KernelArguments()
        a.append(source); a.append(Int64(count)); a.append(master)
        try kernels.bf16ToFloat.launch(grid: (max(min((count + 255) / 256, 8192), 1), 1, 1), block: (256, 1, 1),
                                       arguments: a)
    }

    /// Enqueues one AdamW step from the fp32 `gradient` (same layout) and writes the new weights as bf16 at `bf16`.
    func update(
        gradient: DeviceBuffer, bf16: UInt64, optimizer o: AdamW, corrections: (first: Double, second: Double),
        functions: OptimizerFunctions, stream: CUDAStream
    ) throws {
        var a = KernelArguments()
        a.append(master); a.append(gradient); a.append(firstMoment); a.append(secondMoment); a.append(Int64(count))
        a.append(Float(o.learningRate)); a.append(Float(o.beta1)); a.append(Float(1 - o.beta1)); a.append(Float(o.beta2))
        a.append(Float(1 - o.beta2)); a.append(Float(o.epsilon))
        a.append(Float(o.weightDecay)); a.append(Float(corrections.first)); a.append(Float(corrections.second))
        a.append(bf16)
        let blocks = max(min((count / 4 + 255) / 256, 8192), 1)
        try functions.adamw.launch(grid: (blocks, 1, 1), block: (256, 1, 1), stream: stream, arguments: a)
    }
}

/// The kernels of moe_optimizer.cu, loaded through the kernel cache (compiled once per machine).
struct OptimizerFunctions {
    let module: CUDAModule
    let mseLossGrad, lossSum, adamw, routerBiasUpdate, perturb: CUDAFunction

    init(context: CUDAContext, cache: KernelCache) throws {
        let name = "moe_optimizer.cu"
        guard let source = KernelSources.all.first(where: { $0.name == name })?.source else {
            throw CUDAError(rawValue: -1, name: "SWITCHYARD_KERNEL_MISSING", message: "no kernel source \(name)",
                            call: "OptimizerFunctions.init")
        }
        let compiled = try cache.compiled(source: source, name: name, headers: KernelSources.headers,
                                          options: try KernelSources.options(), architecture: context.architecture)
        module = try CUDAModule(context: context, cubin: compiled.cubin)
        mseLossGrad = try module.function(named: "sy_mse_loss_grad")
        lossSum = try module.function(named: "sy_loss_sum")
        adamw = try module.function(named: "sy_adamw")
        routerBiasUpdate = try module.function(named: "sy_router_bias_update")
        perturb = try module.function(named: "sy_perturb_bf16")
    }
}
