/// A student MoE layer learning a fixed random teacher layer of the same configuration, on the CPU.
///
/// Each step draws a fresh seeded input X [T, d], runs both layers forward, takes the loss
/// L = mean over T·d of (O_student − O_teacher)² with dO = 2(O_student − O_teacher)/(T·d), runs the student's
/// backward pass, applies ``AdamW`` to Wr, W1 and W2 (fp32 master weights), and, for the sigmoid-bias router,
/// the aux-loss-free bias update ``updateRouterBias(_:counts:rate:)`` with the step's per-expert loads.
/// `switchyard train` runs this loop on the CPU; `GPUTeacherStudent` in SwitchyardCUDA is its device twin.
///
/// ```swift
/// var run = try TeacherStudent(config: config, tokens: 256, optimizer: try AdamW(learningRate: 1e-2))
/// for _ in 0..<100 { print(try run.step().loss) }
/// ```
public struct TeacherStudent {
    public let teacher: MoEWeights<Float>
    public private(set) var student: MoEWeights<Float>
    public let tokens: Int
    public let optimizer: AdamW
    public let dataSeed: UInt64
    /// Steps taken so far.
    public private(set) var steps = 0
    private var moments: (router: AdamWMoments, w1: AdamWMoments, w2: AdamWMoments)
    private let backend: CPUBackend

    /// Builds the teacher (``MoEWeights/random(config:seed:)`` with `teacherSeed`) and the student (`studentSeed`),
    /// both with zero score-correction biases.
    /// Throws ``SwitchyardError`` for a bad configuration, `tokens` < 1, or a configuration with shared experts
    /// (their weights are not trained here).
    public init(
        config: MoEConfig, tokens: Int, optimizer: AdamW, teacherSeed: UInt64 = 1, studentSeed: UInt64 = 2,
        dataSeed: UInt64 = 3, threads: Int? = nil
    ) throws {
        try config.validate()
        guard tokens >= 1 else { throw SwitchyardError(.invalidConfiguration, "tokens must be ≥ 1, got \(tokens)") }
        guard config.sharedExperts == 0 else {
            throw SwitchyardError(.unsupported, "teacher–student training covers routed experts only; set sharedExperts to 0")
        }
        // Score-correction biases start at zero (as on the GPU): the teacher's routing is its router's alone.
        var teacher = MoEWeights<Float>.random(config: config, seed: teacherSeed)
        var student = MoEWeights<Float>.random(config: config, seed: studentSeed)
        teacher.routerBias = Tensor(zeros: [config.experts])
        student.routerBias = Tensor(zeros: [config.experts])
        self.teacher = teacher
        self.student = student
        self.tokens = tokens
        self.optimizer = optimizer
        self.dataSeed = dataSeed
        moments = (AdamWMoments(count: student.router.count), AdamWMoments(count: student.w1.count),
                   AdamWMoments(count: student.w2.count))
        backend = CPUBackend(threads: threads)
    }

    /// The input of step `step` (counting from 1): standard normal, [T, d], the same for the same seed and step.
    public func input(step: Int) -> HostTensor {
        var generator = SeededGenerator(seed: dataSeed &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15)
        return .randomNormal(shape: [tokens, teacher.config.hidden], generator: &generator)
    }

    /// One training step; returns the loss before the update and the student's per-expert loads.
    public mutating func step() throws -> TrainingStep {
        steps += 1
        let x = input(step: steps)
        let target = try backend.forward(x, weights: teacher).output
        let forward = try backend.forward(x, weights: student)
        let (loss, dO) = meanSquaredError(forward.output, target: target)
        let gradients = try backend.backward(dO, input: x, weights: student, forward: forward)
        optimizer.update(&student.router.scalars, gradient: gradients.router.scalars, moments: &moments.router, step: steps)
        optimizer.update(&student.w1.scalars, gradient: gradients.w1.scalars, moments: &moments.w1, step: steps)
        optimizer.update(&student.w2.scalars, gradient: gradients.w2.scalars, moments: &moments.w2, step: steps)
        let config = student.config
        if case .sigmoidBias = config.router.kind {
            try updateRouterBias(&student.routerBias, counts: forward.plan.counts, rate: config.router.biasUpdateRate)
        }
        return TrainingStep(step: steps, loss: loss, counts: forward.plan.counts)
    }
}

/// What one training step reports.
public struct TrainingStep: Sendable, Equatable {
    /// The step's number, from 1.
    public var step: Int
    /// The loss of the step's forward pass (before its update).
    public var loss: Double
    /// Assignments per expert in the step's forward pass.
    public var counts: [Int32]

    public init(step: Int, loss: Double, counts: [Int32]) {
        self.step = step
        self.loss = loss
        self.counts = counts
    }
}

/// L = mean of (output − target)² over every element (summed in Double) and its gradient 2(output − target)/count.
/// The shapes must match (a programmer error otherwise).
public func meanSquaredError(_ output: HostTensor, target: HostTensor) -> (loss: Double, gradient: HostTensor) {
    precondition(output.shape == target.shape, "meanSquaredError: shapes \(output.shape) and \(target.shape) differ")
    var gradient = HostTensor(zeros: output.shape)
    let count = max(output.count, 1)
    let scale = Float(2 / Double(count))
    var sum = 0.0
    for i in output.scalars.indices {
        let difference = output.scalars[i] - target.scalars[i]
        sum += Double(difference) * Double(difference)
        gradient.scalars[i] = scale * difference
    }
    return (sum / Double(count), gradient)
}
