#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Switchyard

/// How assignments spread over experts: evenly, Zipf-like, or as measured.
///
/// ```swift
/// let skewed = try RoutingDistribution(parsing: "zipf:1.1")
/// let loads = try skewed.loads(experts: 64)   // fractions, summing to 1
/// ```
public enum RoutingDistribution: Sendable, Hashable {
    case uniform
    /// The i-th most popular expert gets a share ∝ 1/(i+1)^exponent. Popularity ranks are spread over the
    /// expert indices by a fixed seeded shuffle, so hot experts do not all sit on the first rank.
    case zipf(exponent: Double)
    /// Assignments counted per expert (e.g. from a training run).
    case measured([Int])

    /// Parses `uniform` or `zipf:S` (S ≥ 0). Measured counts come from ``parseCounts(_:)``.
    public init(parsing text: String) throws {
        let lower = text.lowercased()
        if lower == "uniform" {
            self = .uniform
        } else if lower.hasPrefix("zipf:"), let s = Double(lower.dropFirst(5)), s >= 0, s.isFinite {
            self = .zipf(exponent: s)
        } else {
            throw SwitchyardError(.invalidConfiguration, "routing '\(text)' must be uniform or zipf:S with S ≥ 0, e.g. zipf:1.0")
        }
    }

    /// Reads per-expert counts: non-negative integers separated by commas, spaces or newlines
    /// (a JSON array of integers also reads this way).
    public static func parseCounts(_ text: String) throws -> [Int] {
        let separators: Set<Character> = [",", " ", "\n", "\r", "\t", "[", "]"]
        let fields = text.split(whereSeparator: { separators.contains($0) })
        var counts: [Int] = []
        for field in fields {
            guard let value = Int(field), value >= 0 else {
                throw SwitchyardError(.malformedFile, "expert counts must be non-negative integers, found '\(field)'")
            }
            counts.append(value)
        }
        guard !counts.isEmpty else { throw SwitchyardError(.malformedFile, "no expert counts found") }
        return counts
    }

    /// The fraction of all assignments each expert receives (sums to 1).
    public func loads(experts: Int) throws -> [Double] {
        switch self {
        case .uniform:
            return Array(repeating: 1 / Double(experts), count: experts)
        case .zipf(let exponent):
            var order = Array(0..<experts)
            var generator = SeededGenerator(seed: 0x5EED)
            order.shuffle(using: &generator)
            let weights = (0..<experts).map { 1 / pow(Double($0 + 1), exponent) }
            let total = weights.reduce(0, +)
            var loads = Array(repeating: 0.0, count: experts)
            for (popularity, expert) in order.enumerated() { loads[expert] = weights[popularity] / total }
            return loads
        case .measured(let counts):
            guard counts.count == experts else {
                throw SwitchyardError(
                    .invalidConfiguration, "measured counts list \(counts.count) experts; the layer has \(experts)")
            }
            let total = Double(counts.reduce(0, +))
            guard total > 0 else { throw SwitchyardError(.invalidConfiguration, "measured counts are all zero") }
            return counts.map { Double($0) / total }
        }
    }
}
