import ArgumentParser
import Switchyard
import SwitchyardCUDA
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a student MoE layer to match a fixed random teacher layer, on the best available device.",
        discussion: """
            The default task is recovery: the student starts at the teacher's weights plus noise (--student-init \
            perturbed:0.5, i.e. W = W_teacher + 0.5·N(0, the weight's scale²) on Wr, W1, W2) and must remove it; \
            --student-init independent learns from an unrelated random start (the loss falls only about 2×). \
            Each step draws a fresh seeded X, runs teacher and student forward, takes L = mean over T·d of \
            (O_student − O_teacher)², runs the student's backward pass and an AdamW step on Wr, W1 and W2 (fp32 master \
            weights; lr with linear warm-up and cosine decay), and for the sigmoid-bias router the aux-loss-free bias \
            update b_e += γ·sign(mean load − load_e) (γ on the same schedule; the teacher's bias is balanced the same \
            way before training, and during training takes the same step from its own loads). On a GPU everything stays on the device; the default shape is 7B-n256 with 196608 tokens a step (8 × its T: the \
            loss's floor is routing noise, which falls with more tokens a step). On the CPU \
            the default is a small layer (T 4096, d 64, n 32, E 8, K 2). Prints step, loss, tokens/s, the largest \
            and smallest expert load, and the share of the student's assignments the teacher does not make \
            (misrouted); --csv writes the same columns. See docs/training.md.
            """)

    @OptionGroup var devices: DeviceOptions
    @Option(help: "A named configuration, e.g. 7B-n256 (the GPU default, there with T 196608).") var shape: String?
    @Option(help: "Tokens T per step (default: the shape's T; the GPU's default task takes 196608, 8 × 7B-n256's T).")
    var tokens: Int?
    @Option(help: "Hidden size d (with --intermediate, --experts, --top-k: a custom shape).") var hidden: Int?
    @Option(help: "Expert intermediate size n.") var intermediate: Int?
    @Option(help: "Experts E.") var experts: Int?
    @Option(name: .customLong("top-k"), help: "Experts per token K.") var topK: Int?
    @Option(help: "Router: sigmoid-bias (DeepSeek-V3, one group, bias balancing on), softmax or mixtral.")
    var router: RouterChoice = .sigmoidBias
    @Option(help: "Training steps.") var steps: Int = 300
    @Option(help: "Peak AdamW learning rate (default 0.08/√d: 1e-2 at d 64, 2.0e-3 at d 1536).") var lr: Double?
    @Option(help: "Learning-rate schedule: cosine (linear warm-up, then cosine decay to ~0 at the last step) or constant.")
    var schedule: ScheduleChoice = .cosine
    @Option(help: "Warm-up steps of the schedule (default: 10% of the steps).") var warmup: Int?
    @Option(name: .customLong("student-init"),
            help: "Student start: independent, teacher-router or perturbed[:σ] (teacher + σ·noise; σ default 0.5).")
    var studentInit: StudentInit = .perturbed(sigma: StudentInit.defaultSigma)
    @Option(name: .customLong("teacher-balance-steps"),
            help: "Sigmoid-bias router: aux-loss-free balancing steps that set the teacher's bias before training.")
    var teacherBalanceSteps: Int = 200
    @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay λ.") var weightDecay: Double = 0.01
    @Option(help: "AdamW ε.") var eps: Double = 1e-8
    @Option(name: .customLong("bias-rate"), help: "Step γ of the aux-loss-free bias update (sigmoid-bias router).")
    var biasRate: Double = 1e-3
    @Option(name: .customLong("router-lr-scale"),
            help: "The router's (Wr's) learning rate as a multiple of --lr; W1 and W2 take --lr.")
    var routerLRScale: Double = 1
    @Option(help: "Seed: the teacher uses it, the student seed + 1, the inputs seed + 2.") var seed: UInt64 = 1
    @Option(help: "Write step,loss,tokens_per_s,load_max,load_min,misrouted to this CSV file.") var csv: String?
    @Option(name: .customLong("log-every"), help: "Log (and read the loss back) every N steps.") var logEvery: Int = 10

    enum ScheduleChoice: String, ExpressibleByArgument, CaseIterable {
        case cosine, constant
    }

    enum RouterChoice: String, ExpressibleByArgument, CaseIterable {
        case sigmoidBias = "sigmoid-bias", softmax, mixtral
    }

    func run() async throws {
        guard logEvery >= 1 else { throw ValidationError("--log-every must be ≥ 1") }
        let backend = try makeBackend(devices.device)
        let isGPU = backend is GPUBackend
        let shape = try selectedShape(gpu: isGPU)
        let stepCount = steps
        guard stepCount >= 1 else { throw ValidationError("--steps must be ≥ 1") }
        let config = try shape.config(router: RouterConfig(kind: routerKind, biasUpdateRate: biasRate))
        // Adam's steps are about lr per weight; the weights (teacher, and noise of the default task) scale as d^-½,
        // so lr ∝ d^-½ makes the relative step, and the steps needed to remove the noise, the same at every width.
        let learningRate = lr ?? 0.08 / Double(shape.hidden).squareRoot()
        let optimizer = try AdamW(learningRate: learningRate, epsilon: eps, weightDecay: weightDecay)
        let warmupSteps = warmup ?? stepCount / 10
        let lrSchedule = try LearningRateSchedule(warmupSteps: warmupSteps,
                                                  totalSteps: schedule == .cosine ? stepCount : nil)

        let run: any TrainingRun
        if let gpu = backend as? GPUBackend {
            note("building teacher and student on the device")
            run = try GPUTeacherStudent(kernels: gpu.kernels, cache: try KernelCache(), config: config,
                                        tokens: shape.tokens, optimizer: optimizer, schedule: lrSchedule,
                                        studentInit: studentInit, calibrationSteps: teacherBalanceSteps,
                                        teacherSeed: seed, studentSeed: seed &+ 1, dataSeed: seed &+ 2,
                                        routerLearningRateScale: routerLRScale)
        } else {
            run = CPUTrainingRun(try TeacherStudent(config: config, tokens: shape.tokens, optimizer: optimizer,
                                                    schedule: lrSchedule, studentInit: studentInit,
                                                    calibrationSteps: teacherBalanceSteps, teacherSeed: seed,
                                                    studentSeed: seed &+ 1, dataSeed: seed &+ 2,
                                                    routerLearningRateScale: routerLRScale))
        }
        print("train on \(backend.description): \(shape.name) T=\(shape.tokens) d=\(shape.hidden) n=\(shape.intermediate) "
              + "E=\(shape.experts) K=\(shape.topK), router \(router.rawValue), \(stepCount) steps, AdamW lr \(format(learningRate)) "
              + "λ \(weightDecay) ε \(eps)" + (routerLRScale == 1 ? "" : ", router lr ×\(routerLRScale)"))
        print("task: \(studentInit.task); lr \(schedule.rawValue) with \(warmupSteps) warm-up steps"
              + (teacherBalanceSteps > 0 && router == .sigmoidBias
                 ? "; teacher bias balanced for \(teacherBalanceSteps) steps, then balanced with the student's, "
                   + "γ \(biasRate) on the schedule" : ""))
        print(pad("step", 8) + pad("loss", 14) + pad("tokens/s", 14) + pad("load max", 10) + pad("load min", 10)
              + "misrouted")
        let log = try train(run, steps: stepCount, tokens: shape.tokens)
        if let csv { try writeCSV(log.rows, to: csv) }
        let first = log.rows[0].loss, last = log.rows[log.rows.count - 1].loss
        print("loss \(format(first)) → \(format(last)) (÷\(fixed(first / last, 1))) in \(stepCount) steps, "
              + "\(fixed(log.seconds, 2)) s, \(format(Double(shape.tokens * stepCount) / log.seconds)) tokens/s")
    }

    /// One logged step.
    struct Row {
        var step: Int
        var loss: Double
        var tokensPerSecond: Double
        var loadMax: Int32
        var loadMin: Int32
        /// The fraction of the student's assignments the teacher does not make.
        var misrouted: Double
    }

    /// Runs the steps, logging step 1, every `logEvery`-th and the last; tokens/s counts since the previous log line.
    private func train(_ run: any TrainingRun, steps: Int, tokens: Int) throws -> (rows: [Row], seconds: Double) {
        let clock = ContinuousClock()
        let start = clock.now
        var previous = (step: 0, time: start)
        var rows: [Row] = []
        for step in 1...steps {
            try run.step()
            guard step == 1 || step % logEvery == 0 || step == steps else { continue }
            let loss = try run.loss(), counts = try run.counts(), misrouted = try run.misrouted()
            let now = clock.now
            let rate = Double(tokens * (step - previous.step)) / seconds(now - previous.time)
            previous = (step, now)
            let row = Row(step: step, loss: loss, tokensPerSecond: rate, loadMax: counts.max() ?? 0,
                          loadMin: counts.min() ?? 0, misrouted: misrouted)
            rows.append(row)
            print(pad("\(step)", 8) + pad(format(loss), 14) + pad(format(rate), 14) + pad("\(row.loadMax)", 10)
                  + pad("\(row.loadMin)", 10) + fixed(100 * misrouted, 2) + "%")
            guard loss.isFinite else { throw ValidationError("the loss is \(loss) at step \(step); try a smaller --lr") }
        }
        return (rows, seconds(clock.now - start))
    }

    private func writeCSV(_ rows: [Row], to path: String) throws {
        var text = "step,loss,tokens_per_s,load_max,load_min,misrouted\n"
        for row in rows {
            text += "\(row.step),\(row.loss),\(row.tokensPerSecond),\(row.loadMax),\(row.loadMin),\(row.misrouted)\n"
        }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        note("wrote \(rows.count) rows to \(path)")
    }

    private var routerKind: RouterKind {
        switch router {
        case .sigmoidBias: .sigmoidBias(groups: 1, topKGroups: 1, scaling: 1)
        case .softmax: .softmaxTopK(renormalize: true)
        case .mixtral: .mixtral
        }
    }

    /// Tokens per step of the GPU's default task (7B-n256's d, n, E and K): 8 of the shape's 24576-token batches.
    static let gpuDefaultTokens = 196_608

    /// The shape: custom sizes, a named shape, or the device's default (7B-n256 at T 196608 on a GPU, a small layer
    /// on the CPU).
    private func selectedShape(gpu: Bool) throws -> NamedShape {
        var selected: NamedShape
        if let d = hidden, let n = intermediate, let e = experts, let k = topK {
            selected = NamedShape(name: "custom", tokens: 4096, hidden: d, intermediate: n, experts: e, topK: k)
        } else if hidden != nil || intermediate != nil || experts != nil || topK != nil {
            throw ValidationError("a custom shape needs all of --hidden, --intermediate, --experts and --top-k")
        } else if let name = shape ?? (gpu ? "7B-n256" : nil) {
            guard let named = NamedShape.named(name) else {
                throw ValidationError("unknown shape '\(name)'; known: \(NamedShape.all.map(\.name).joined(separator: ", "))")
            }
            selected = named
            // The GPU's default task: the recovery's floor is routing noise, which falls with more tokens per step
            // (H100, 300 steps: ÷28 at the shape's 24576 tokens, ÷82 at 4×, ÷133 at 8×; docs/training.md).
            if shape == nil { selected.tokens = Self.gpuDefaultTokens }
        } else {
            selected = NamedShape(name: "cpu-small", tokens: 4096, hidden: 64, intermediate: 32, experts: 8, topK: 2)
        }
        if let tokens {
            guard tokens >= 1 else { throw ValidationError("--tokens must be ≥ 1") }
            selected.tokens = tokens
        }
        return selected
    }
}

/// What the training loop drives: enqueue a step, read back the last step's loss and expert loads.
protocol TrainingRun: AnyObject {
    func step() throws
    func loss() throws -> Double
    func counts() throws -> [Int32]
    func misrouted() throws -> Double
}

extension GPUTeacherStudent: TrainingRun {}

extension StudentInit: ExpressibleByArgument {
    public init?(argument: String) { try? self.init(parsing: argument) }
}

/// The CPU trainer behind the same interface (its step computes the loss at once).
final class CPUTrainingRun: TrainingRun {
    private var trainer: TeacherStudent
    private var last = TrainingStep(step: 0, loss: .nan, counts: [])

    init(_ trainer: TeacherStudent) { self.trainer = trainer }

    func step() throws { last = try trainer.step() }
    func loss() throws -> Double { last.loss }
    func counts() throws -> [Int32] { last.counts }
    func misrouted() throws -> Double { last.misrouted }
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}
