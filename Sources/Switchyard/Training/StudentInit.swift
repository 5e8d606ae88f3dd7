/// How the student layer of a teacher–student run starts, and so what it learns.
///
/// - ``independent``: its own random weights (another seed). The student must find the teacher's function from
///   scratch through a discrete routing; it reaches a local fit, not the teacher (the loss falls about 2×).
/// - ``teacherRouter``: the teacher's router weight Wr, its own random W1 and W2. Routing starts aligned; the
///   experts are learned from scratch.
/// - ``perturbed(sigma:)``: every trained weight (Wr, W1, W2) is the teacher's plus σ times independent noise of
///   the same scale (N(0, σ²/d) for Wr and W1, N(0, σ²/n) for W2). A recovery (denoising) task: the student must
///   remove the noise; the loss starts near σ²·E[O_teacher²] and falls toward zero.
///
/// ```swift
/// let start = try StudentInit(parsing: "perturbed:0.5")   // .perturbed(sigma: 0.5)
/// ```
public enum StudentInit: Sendable, Hashable, CustomStringConvertible {
    case independent
    case teacherRouter
    case perturbed(sigma: Double)

    /// σ of `perturbed` when the text gives none.
    public static let defaultSigma = 0.5

    /// Parses `independent`, `teacher-router`, `perturbed` or `perturbed:σ` (σ > 0, finite).
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first ?? "", parts.count) {
        case ("independent", 1): self = .independent
        case ("teacher-router", 1): self = .teacherRouter
        case ("perturbed", 1): self = .perturbed(sigma: Self.defaultSigma)
        case ("perturbed", 2):
            guard let sigma = Double(parts[1]), sigma > 0, sigma.isFinite else {
                throw SwitchyardError(.invalidConfiguration, "perturbed:σ needs a positive number, got '\(parts[1])'")
            }
            self = .perturbed(sigma: sigma)
        default:
            throw SwitchyardError(.invalidConfiguration,
                                  "unknown student init '\(text)'; use independent, teacher-router, perturbed or perturbed:σ")
        }
    }

    /// The spelling ``init(parsing:)`` reads.
    public var description: String {
        switch self {
        case .independent: "independent"
        case .teacherRouter: "teacher-router"
        case .perturbed(let sigma): "perturbed:\(sigma)"
        }
    }

    /// What the run learns, in a few words, for logs and headers.
    public var task: String {
        switch self {
        case .independent: "learn the teacher from an independent random start"
        case .teacherRouter: "learn the teacher's experts from random, router copied from the teacher"
        case .perturbed(let sigma): "recover the teacher from teacher + \(sigma)·noise on Wr, W1, W2"
        }
    }
}
