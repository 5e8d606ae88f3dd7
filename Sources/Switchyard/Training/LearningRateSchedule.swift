#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The learning rate of each step as a multiple of the peak: a linear warm-up, then a cosine decay to zero.
///
/// For step t (from 1) with W warm-up steps and S steps in all:
///
///     t ≤ W:  t / W
///     t > W:  ½·(1 + cos(π·(t − W) / (S − W + 1)))
///
/// so the rate reaches the peak at step W and falls to near zero at the last step (step S + 1 would be 0).
/// With `totalSteps` nil the rate stays at the peak after the warm-up. Adam at a fixed rate stops at a noise
/// floor proportional to the rate; the decay lets the loss keep falling to the end of the run.
///
/// ```swift
/// let schedule = try LearningRateSchedule(warmupSteps: 30, totalSteps: 300)
/// schedule.multiplier(step: 15)   // 0.5
/// schedule.multiplier(step: 30)   // 1
/// ```
public struct LearningRateSchedule: Sendable, Hashable {
    /// W: steps of linear warm-up (0: none).
    public var warmupSteps: Int
    /// S: the run's length, where the cosine reaches about zero; nil: constant after the warm-up.
    public var totalSteps: Int?

    /// A fixed rate: no warm-up, no decay.
    public static let constant = LearningRateSchedule(uncheckedWarmup: 0, total: nil)

    /// Throws ``SwitchyardError`` unless 0 ≤ `warmupSteps` and, with `totalSteps`, `warmupSteps` < `totalSteps`.
    public init(warmupSteps: Int, totalSteps: Int?) throws {
        guard warmupSteps >= 0 else {
            throw SwitchyardError(.invalidConfiguration, "warm-up steps must be ≥ 0, got \(warmupSteps)")
        }
        if let totalSteps, warmupSteps >= totalSteps {
            throw SwitchyardError(.invalidConfiguration,
                                  "warm-up steps (\(warmupSteps)) must be fewer than the run's steps (\(totalSteps))")
        }
        self.init(uncheckedWarmup: warmupSteps, total: totalSteps)
    }

    private init(uncheckedWarmup: Int, total: Int?) {
        warmupSteps = uncheckedWarmup
        totalSteps = total
    }

    /// The multiplier of step `step` ≥ 1, in (0, 1].
    public func multiplier(step: Int) -> Double {
        precondition(step >= 1, "schedule steps count from 1, got \(step)")
        if step <= warmupSteps { return Double(step) / Double(warmupSteps) }
        guard let totalSteps else { return 1 }
        let progress = Double(min(step, totalSteps) - warmupSteps) / Double(totalSteps - warmupSteps + 1)
        return 0.5 * (1 + cos(Double.pi * progress))
    }
}
