/// A student MoE layer learning a fixed random teacher layer of the same configuration, on the CPU.
/// ``StudentInit`` says where the student starts (and so what is learned); ``LearningRateSchedule`` scales the
/// optimizer's rate per step.
///
/// Each step draws a fresh seeded input X [T, d], runs both layers forward, takes the loss
/// L = mean over T·d of (O_student − O_teacher)² with dO = 2(O_student − O_teacher)/(T·d), runs the student's
/// backward pass, applies ``AdamW`` to Wr, W1 and W2 (fp32 master weights), and, for the sigmoid-bias router,
/// the aux-loss-free bias update ``updateRouterBias(_:counts:rate:)`` to the student's bias with its per-expert
/// loads and to the teacher's with the teacher's (so a student that routes as the teacher does keeps its bias).
/// `switchyard train` runs this loop on the CPU; `GPUTeacherStudent` in SwitchyardCUDA is its device twin.
///
/// ```swift
/// var run = try TeacherStudent(config: config, tokens: 256, optimizer: try AdamW(learningRate: 1e-2))
/// for _ in 0..<100 { print(try run.step().loss) }
/// ```
public struct TeacherStudent {
    public private(set) var teacher: MoEWeights<Float>
    public private(set) var student: MoEWeights<Float>
    public let tokens: Int
    /// The optimizer at the peak learning rate; ``schedule`` scales its rate per step.
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public let studentInit: StudentInit
    public let dataSeed: UInt64
    /// The router's learning rate as a multiple of the others' (Wr's steps only; W1 and W2 take the optimizer's).
    public let routerLearningRateScale: Double
    /// Steps taken so far.
    public private(set) var steps = 0
    private var moments: (router: AdamWMoments, w1: AdamWMoments, w2: AdamWMoments)
    private let backend: CPUBackend

    /// Builds the teacher (``MoEWeights/random(config:seed:)`` with `teacherSeed`, score-correction bias zero) and,
    /// for the sigmoid-bias router, balances the teacher's bias with `calibrationSteps` aux-loss-free updates on
    /// inputs of their own (so the teacher routes as a balanced trained layer does, and the student's balancing
    /// has a fixed point at the teacher). The student comes from `studentInit` (its random weights from
    /// `studentSeed`); it starts with the teacher's bias, or zero when independent. `routerLearningRateScale`
    /// multiplies the learning rate of Wr alone.
    /// Throws ``SwitchyardError`` for a bad configuration, `tokens` < 1, a negative or non-finite router scale, or
    /// a configuration with shared experts (their weights are not trained here).
    public init(
        config: MoEConfig, tokens: Int, optimizer: AdamW, schedule: LearningRateSchedule = .constant,
        studentInit: StudentInit = .independent, calibrationSteps: Int = 0, teacherSeed: UInt64 = 1, studentSeed: UInt64 = 2,
        dataSeed: UInt64 = 3, routerLearningRateScale: Double = 1, threads: Int? = nil
    ) throws {
        try config.validate()
        guard tokens >= 1 else { throw SwitchyardError(.invalidConfiguration, "tokens must be ≥ 1, got \(tokens)") }
        try Self.validate(routerLearningRateScale: routerLearningRateScale)
        guard calibrationSteps >= 0 else {
            throw SwitchyardError(.invalidConfiguration, "calibration steps must be ≥ 0, got \(calibrationSteps)")
        }
        guard config.sharedExperts == 0 else {
            throw SwitchyardError(.unsupported, "teacher–student training covers routed experts only; set sharedExperts to 0")
        }
        let backend = CPUBackend(threads: threads)
        var teacher = MoEWeights<Float>.random(config: config, seed: teacherSeed)
        teacher.routerBias = Tensor(zeros: [config.experts])
        if case .sigmoidBias = config.router.kind {
            for step in 0..<calibrationSteps {
                var generator = SeededGenerator(seed: Self.calibrationSeed(dataSeed: dataSeed, step: step))
                let x = HostTensor.randomNormal(shape: [tokens, config.hidden], generator: &generator)
                let counts = try backend.forward(x, weights: teacher).plan.counts
                try updateRouterBias(&teacher.routerBias, counts: counts, rate: config.router.biasUpdateRate)
            }
        }
        var student = MoEWeights<Float>.random(config: config, seed: studentSeed)
        student.routerBias = Tensor(zeros: [config.experts])
        switch studentInit {
        case .independent: break
        case .teacherRouter:
            student.router = teacher.router
            student.routerBias = teacher.routerBias
        case .perturbed(let sigma):
            // Student = teacher + σ·(its own random weights), which have the teacher's scale.
            func perturb(_ weight: inout Tensor<Float>, _ center: Tensor<Float>) {
                for i in weight.scalars.indices { weight.scalars[i] = center.scalars[i] + Float(sigma) * weight.scalars[i] }
            }
            perturb(&student.router, teacher.router)
            perturb(&student.w1, teacher.w1)
            perturb(&student.w2, teacher.w2)
            student.routerBias = teacher.routerBias
        }
        self.teacher = teacher
        self.student = student
        self.tokens = tokens
        self.optimizer = optimizer
        self.schedule = schedule
        self.studentInit = studentInit
        self.dataSeed = dataSeed
        self.routerLearningRateScale = routerLearningRateScale
        moments = (AdamWMoments(count: student.router.count), AdamWMoments(count: student.w1.count),
                   AdamWMoments(count: student.w2.count))
        self.backend = backend
    }

    /// Throws ``SwitchyardError`` unless `scale` is finite and ≥ 0.
    public static func validate(routerLearningRateScale scale: Double) throws {
        guard scale.isFinite, scale >= 0 else {
            throw SwitchyardError(.invalidConfiguration, "the router's learning-rate scale must be finite and ≥ 0, got \(scale)")
        }
    }

    /// The seed of calibration step `step` (from 0): inputs apart from the training inputs.
    public static func calibrationSeed(dataSeed: UInt64, step: Int) -> UInt64 {
        (dataSeed ^ 0xC0FF_EE00_C0FF_EE00) &+ UInt64(step) &* 0x9E37_79B9_7F4A_7C15
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
        let teacherForward = try backend.forward(x, weights: teacher)
        let forward = try backend.forward(x, weights: student)
        let (loss, dO) = meanSquaredError(forward.output, target: teacherForward.output)
        let gradients = try backend.backward(dO, input: x, weights: student, forward: forward)
        let multiplier = schedule.multiplier(step: steps)
        var optimizer = optimizer
        optimizer.learningRate *= multiplier
        var routerOptimizer = optimizer
        routerOptimizer.learningRate *= routerLearningRateScale
        routerOptimizer.update(&student.router.scalars, gradient: gradients.router.scalars, moments: &moments.router,
                               step: steps)
        optimizer.update(&student.w1.scalars, gradient: gradients.w1.scalars, moments: &moments.w1, step: steps)
        optimizer.update(&student.w2.scalars, gradient: gradients.w2.scalars, moments: &moments.w2, step: steps)
        let config = student.config
        if case .sigmoidBias = config.router.kind {
            // γ follows the schedule too: a fixed γ keeps the bias jittering by about γ (DeepSeek-V3 set γ to 0 for
            // its last tokens). The teacher's bias takes the same step from its own loads on the same input: the
            // bias is balancing state, not a weight, and a student that routes as the teacher does then keeps the
            // teacher's bias exactly instead of random-walking away from a frozen one.
            let rate = config.router.biasUpdateRate * multiplier
            try updateRouterBias(&student.routerBias, counts: forward.plan.counts, rate: rate)
            try updateRouterBias(&teacher.routerBias, counts: teacherForward.plan.counts, rate: rate)
        }
        return TrainingStep(step: steps, loss: loss, counts: forward.plan.counts,
                            misrouted: routingDisagreement(student: forward.plan.expertIndex,
                                                           teacher: teacherForward.plan.expertIndex,
                                                           topK: config.topK))
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
    /// The fraction of the student's assignments whose expert the teacher did not choose for that token
    /// (``routingDisagreement(student:teacher:topK:)``).
    public var misrouted: Double

    public init(step: Int, loss: Double, counts: [Int32], misrouted: Double = 0) {
        self.step = step
        self.loss = loss
        self.counts = counts
        self.misrouted = misrouted
    }
}

/// The fraction of `student`'s assignments (token t, expert e), over [T·K] expert indices in token order, whose
/// expert is not among `teacher`'s K for the same token; dropped slots (−1) on either side are skipped. 0 when the
/// two route every token to the same set of experts, in any slot order. The arrays must have the same length, a
/// multiple of `topK` (a programmer error otherwise).
public func routingDisagreement(student: [Int32], teacher: [Int32], topK: Int) -> Double {
    precondition(topK >= 1 && student.count == teacher.count && student.count % topK == 0,
                 "routingDisagreement: \(student.count) and \(teacher.count) indices, K = \(topK)")
    var assignments = 0, different = 0
    for t in 0..<(student.count / topK) {
        let chosen = teacher[(t * topK)..<((t + 1) * topK)]
        for e in student[(t * topK)..<((t + 1) * topK)] where e >= 0 {
            assignments += 1
            if !chosen.contains(e) { different += 1 }
        }
    }
    return assignments == 0 ? 0 : Double(different) / Double(assignments)
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
