import SwitchyardFormats

/// The conformance suite behind `switchyard check`: random layers and inputs run on a backend and are compared
/// with the float64 CPU reference.
///
/// Inputs and weights are drawn fresh for each case and rounded to bf16 values, so a bf16 device sees exactly the
/// numbers the reference sees; the reference stores its activations in the backend's precision (bf16 H, A, Y, O and
/// dH, A′ for a GPU) and computes everything else in float64. The reference is run twice: once on its own (to check the backend's routing, where a
/// difference is allowed only at a near-tie of the selection values) and once with the backend's routing forced
/// (to compare O, H, the scores and the dispatch metadata like for like). Each case also runs the backend twice and
/// requires the same bytes both times (determinism).
public struct ConformanceCase: Sendable, CustomStringConvertible {
    public var tokens: Int
    public var config: MoEConfig
    /// Experts whose router column is pushed far down, so they receive no tokens.
    public var emptyExperts: [Int]
    /// Route every token to expert 0 (a large router bias toward it).
    public var allToOne: Bool
    public var seed: UInt64

    public var description: String {
        let c = config
        var router = ""
        switch c.router.kind {
        case .softmaxTopK(let renormalize): router = renormalize ? "softmax-norm" : "softmax"
        case .mixtral: router = "mixtral"
        case .sigmoidBias(let g, let tg, _): router = "sigmoid-bias(g\(g)/\(tg))"
        }
        var extra = allToOne ? " all-to-one" : (emptyExperts.isEmpty ? "" : " empty:\(emptyExperts.count)")
        if c.router.auxLossCoefficient != 0 || c.router.zLossCoefficient != 0 {
            extra += " aux \(c.router.auxLossCoefficient) z \(c.router.zLossCoefficient)"
        }
        return "T=\(tokens) d=\(c.hidden) n=\(c.intermediate) E=\(c.experts) K=\(c.topK) \(router)\(extra)"
    }
}

public struct ConformanceResult: Sendable {
    public struct Measured: Sendable {
        public var name: String
        public var value: Double
        public init(name: String, value: Double) {
            self.name = name
            self.value = value
        }
    }
    public var testCase: ConformanceCase
    /// Relative L2 errors against the reference, by tensor name (O, H, scores, dX, ...).
    public var errors: [Measured] = []
    /// Tokens whose expert set differs from the reference's at a near-tie (allowed).
    public var routingMismatches = 0
    public var failures: [String] = []
    public var passed: Bool { failures.isEmpty }

    public init(testCase: ConformanceCase) { self.testCase = testCase }

    /// Compares dX, dWr, dW1, dW2 and dS with the reference's.
    public mutating func compareGradients<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(
        _ got: LayerGradients<A>, _ want: LayerGradients<B>, bound: Double
    ) {
        compare("dX", got.input, want.input, bound: bound)
        compare("dWr", got.router, want.router, bound: bound)
        compare("dW1", got.w1, want.w1, bound: bound)
        compare("dW2", got.w2, want.w2, bound: bound)
        compare("dS", got.scores, want.scores, bound: bound)
    }

    /// Records `error` for `name` and a failure when it exceeds `bound` (NaN always fails).
    public mutating func compare<A: BinaryFloatingPoint, B: BinaryFloatingPoint>(_ name: String, _ got: Tensor<A>, _ want: Tensor<B>, bound: Double) {
        guard got.shape == want.shape else {
            failures.append("\(name) shape \(got.shape) vs reference \(want.shape)")
            return
        }
        // A reference that is zero up to float64 rounding (e.g. dWr when every score is a constant, as with K = 1 and
        // renormalized sigmoid scores) has no scale to be relative to: then the result's RMS must itself be at
        // rounding level for the precision (the same bound, read as an absolute RMS of O(1)-scaled data).
        let count = Double(max(want.count, 1))
        let referenceRMS = (want.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } / count).squareRoot()
        if referenceRMS < 1e-12 {
            let rms = (got.scalars.reduce(0.0) { $0 + Double($1) * Double($1) } / count).squareRoot()
            errors.append(Measured(name: name + "(abs)", value: rms))
            if !(rms <= bound) { failures.append("\(name) is zero in the reference but has RMS \(rms) > \(bound)") }
            return
        }
        let error = relativeError(got.scalars, want.scalars)
        errors.append(Measured(name: name, value: error))
        if !(error <= bound) { failures.append("\(name) relative error \(error) > \(bound)") }
    }
}

public enum Conformance {
    /// Relative-norm bound for a backend's stored precision (fp32: summation order only; bf16: a few roundings).
    public static func tolerance(for storage: StoragePrecision) -> Double {
        storage == .float32 ? 1e-5 : 1.5e-2
    }

    /// The column chunk width `switchyard check` runs case `index` in on the GPU (nil: unchunked, one chunk of d):
    /// odd cases are chunked, in 256-column chunks where d ≥ 384 (the cooperative kernels at a column offset, and a
    /// narrower last chunk when d = 384), else in ⌈d/3⌉ rounded up to a multiple of 64.
    public static func checkChunkColumns(caseIndex index: Int, hidden d: Int) -> Int? {
        guard index % 2 == 1, d > 64 else { return nil }
        return d >= 384 ? 256 : ((d + 2) / 3 + 63) / 64 * 64
    }

    /// `count` random cases covering every router, ragged and empty experts, all tokens on one expert, T = 1 and
    /// large T. `maxTokens` caps T; `widths` are the allowed d and n (multiples of 64 for the GPU).
    public static func randomCases(count: Int, seed: UInt64, maxTokens: Int = 65536, gpuShapes: Bool) -> [ConformanceCase] {
        var g = SeededGenerator(seed: seed)
        func pick<T>(_ values: [T]) -> T { values[Int(g.next() % UInt64(values.count))] }
        var cases: [ConformanceCase] = []
        for i in 0..<count {
            let large = i % 6 == 5
            var tokens = large ? maxTokens : pick([1, 2, 7, 64, 129, 300, 1000, 2049])
            tokens = min(tokens, maxTokens)
            // Case 2 (index 1, chunked on the GPU: ``checkChunkColumns(caseIndex:hidden:)``) has d = 512 for any seed:
            // two 256-column chunks, the second at an offset, on the kernels the large layers use.
            let hidden = large ? 128 : gpuShapes && i == 1 ? 512 : pick(gpuShapes ? [64, 128, 256, 384] : [8, 16, 24])
            // GPU widths reach every tile width the kernels pick: n = 256 gives the dH kernel its 256-wide tiles
            // (n % 256 == 0), n = 128 the up-projection's (n % 128 == 0), d ≥ 256 the N = d GEMMs'.
            let intermediate = large ? 64 : pick(gpuShapes ? [64, 128, 192, 256] : [4, 8, 12])
            // 256 experts: the router's dWr GEMM (N = E) takes 256-wide tiles; 320: more groups than the multicast
            // bf16 GEMM takes (≤ 256), so the cooperative kernel without multicast runs.
            let experts = pick(gpuShapes ? [1, 4, 8, 16, 33, 64, 128, 256, 320] : [1, 4, 8, 16, 33, 64, 128])
            let topK = min(experts, pick([1, 2, 4, 6, 8]))
            let kind: RouterKind
            switch i % 4 {
            case 0: kind = .softmaxTopK(renormalize: true)
            case 1: kind = .softmaxTopK(renormalize: false)
            case 2: kind = .mixtral
            default:
                let groups = experts % 4 == 0 && experts >= 8 ? 4 : 1
                let topKGroups = groups == 1 ? 1 : max(2, (topK + experts / groups - 1) / (experts / groups))
                kind = .sigmoidBias(groups: groups, topKGroups: min(groups, topKGroups), scaling: 2.5)
            }
            // Every fifth case adds the aux and z losses (large enough to move dZ, dX and dWr visibly).
            let losses = i % 5 == 2
            guard let config = try? MoEConfig(
                hidden: hidden, intermediate: intermediate, experts: experts, topK: topK,
                router: RouterConfig(kind: kind, auxLossCoefficient: losses ? 0.1 : 0,
                                     zLossCoefficient: losses ? 0.01 : 0)) else { continue }
            // Every third expert starves, keeping at least K + 1 that can receive tokens.
            let empty = experts >= 8 && i % 3 == 1
                ? Array(Array(stride(from: 1, to: experts, by: 3)).prefix(max(0, experts - topK - 1))) : []
            let allToOne = i % 7 == 3
            cases.append(ConformanceCase(tokens: tokens, config: config, emptyExperts: empty, allToOne: allToOne, seed: g.next()))
        }
        return cases
    }

    /// The inputs of a case, already rounded to bf16 values.
    public static func inputs(for c: ConformanceCase) -> (x: HostTensor, weights: MoEWeights<Float>) {
        var weights = MoEWeights<Float>.random(config: c.config, seed: c.seed)
        var g = SeededGenerator(seed: c.seed ^ 0x5EED)
        var x = HostTensor.randomNormal(shape: [c.tokens, c.config.hidden], generator: &g)
        let d = c.config.hidden, E = c.config.experts
        for e in c.emptyExperts {
            for k in 0..<d { weights.router.scalars[k * E + e] = 0 }
        }
        if c.allToOne || !c.emptyExperts.isEmpty {
            // A constant feature in X, weighted by the router, steers every token: far down for empty experts,
            // far up for expert 0 when all tokens go to one expert.
            for t in 0..<c.tokens { x.scalars[t * d] = 1 }
            for e in c.emptyExperts { weights.router.scalars[e] = -30 }
            if c.allToOne { weights.router.scalars[0] = 30 }
        }
        func round(_ t: inout Tensor<Float>) { for i in t.scalars.indices { t.scalars[i] = roundedToBFloat16(t.scalars[i]) } }
        round(&x)
        round(&weights.router)
        round(&weights.routerBias)
        round(&weights.w1)
        round(&weights.w2)
        return (x, weights)
    }

    /// Runs one case's forward pass on `backend` and compares with the float64 reference.
    public static func run(_ c: ConformanceCase, on backend: any Backend, storage: StoragePrecision) -> ConformanceResult {
        var result = ConformanceResult(testCase: c)
        do { _ = try forward(c, on: backend, storage: storage, into: &result) } catch {
            result.failures.append("threw: \(error)")
        }
        return result
    }

    /// Forward and backward on `backend` against the float64 reference: O, H, scores, then dX, dWr, dW1, dW2, dS.
    public static func runBackward(_ c: ConformanceCase, on backend: any Backend, storage: StoragePrecision) -> ConformanceResult {
        var result = ConformanceResult(testCase: c)
        do {
            let (x, weights, got, reference) = try forward(c, on: backend, storage: storage, into: &result)
            let dO = outputGradient(for: c)
            let grads = try backend.backward(dO, input: x, weights: weights, forward: got)
            let again = try backend.backward(dO, input: x, weights: weights, forward: got)
            for (name, first, second) in [("dX", grads.input, again.input), ("dWr", grads.router, again.router),
                                          ("dW1", grads.w1, again.w1), ("dW2", grads.w2, again.w2),
                                          ("dS", grads.scores, again.scores)] where !sameBits(first, second) {
                result.failures.append("\(name) differs between two runs on the same inputs (not deterministic)")
            }
            let want = try ReferenceLayer.backward(
                dO.converted(to: Double.self), input: x.converted(to: Double.self), weights: weights.converted(to: Double.self),
                forward: reference, storage: storage)
            result.compareGradients(grads, want, bound: tolerance(for: storage))
        } catch {
            result.failures.append("threw: \(error)")
        }
        return result
    }

    private static func forward(
        _ c: ConformanceCase, on backend: any Backend, storage: StoragePrecision, into result: inout ConformanceResult
    ) throws -> (HostTensor, MoEWeights<Float>, LayerForward<Float>, LayerForward<Double>) {
        let (x, weights) = inputs(for: c)
        let got = try backend.forward(x, weights: weights)
        let again = try backend.forward(x, weights: weights)
        if !sameBits(got.output, again.output) || !sameBits(got.hidden, again.hidden) || got.plan != again.plan {
            result.failures.append("forward differs between two runs on the same inputs (not deterministic)")
        }
        let x64 = x.converted(to: Double.self)
        let w64 = weights.converted(to: Double.self)
        let free = try ReferenceLayer.forward(x64, weights: w64)
        result.routingMismatches = routingMismatches(
            got: got.plan.expertIndex, reference: free, bias: w64.routerBias.scalars, config: c.config,
            failures: &result.failures)
        // The oracle stores what the backend stores (bf16 H, A, Y, O on a GPU), computing everything else in float64.
        let forced = try ReferenceLayer.forward(x64, weights: w64, storage: storage, routingOverride: got.plan.expertIndex)
        if got.plan != forced.plan { result.failures.append("dispatch metadata differs from the reference plan") }
        let bound = tolerance(for: storage)
        result.compare("O", got.output, forced.output, bound: bound)
        result.compare("H", got.hidden, forced.hidden, bound: bound)
        result.compare("scores", got.scores, forced.scores, bound: bound)
        return (x, weights, got, forced)
    }

    /// Whether two tensors hold the same bytes (NaN payloads included).
    public static func sameBits(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Bool {
        a.shape == b.shape && a.scalars.elementsEqual(b.scalars) { $0.bitPattern == $1.bitPattern }
    }

    /// Tokens whose chosen expert set differs from the reference's; a difference that is not a near-tie of the
    /// selection values is a failure.
    static func routingMismatches(got: [Int32], reference: LayerForward<Double>, bias: [Double], config: MoEConfig,
                                  failures: inout [String]) -> Int {
        let K = config.topK, E = config.experts
        var mismatches = 0
        for t in 0..<reference.plan.tokens {
            let mine = Set(got[(t * K)..<(t * K + K)])
            let theirs = Set(reference.plan.expertIndex[(t * K)..<(t * K + K)])
            guard mine != theirs else { continue }
            mismatches += 1
            let logits = Array(reference.logits.scalars[(t * E)..<(t * E + E)])
            let tie = nearTie(logits: logits, bias: bias, config: config)
            if !tie.near, failures.count < 8 {
                failures.append("token \(t): chose \(mine.sorted()) but the reference chose \(theirs.sorted()) (margin \(tie.margin), no near-tie)")
            }
        }
        return mismatches
    }

    /// Whether one token's routing is a near-tie, by the reference router's own selection margin: the gap between
    /// its K-th pick and the runner-up, and for group-limited routing also between the last kept group's score and
    /// the first dropped one's (a tie of group scores swaps whole groups of experts). Near: margin ≤ 1e-4 · max(1, max |z|).
    static func nearTie(logits: [Double], bias: [Double], config: MoEConfig) -> (near: Bool, margin: Double) {
        let values = logits.indices.map { e -> Double in
            if case .sigmoidBias = config.router.kind { return 1 / (1 + _exp(-logits[e])) + bias[e] }
            return logits[e]
        }
        let margin = values.withUnsafeBufferPointer { Router.select(config: config, values: $0).margin }
        let scale = max(1, logits.map { abs($0) }.max() ?? 1)
        return (margin <= 1e-4 * scale, margin)
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
#elseif canImport(Darwin)
import Darwin
@inline(__always) private func _exp(_ x: Double) -> Double { Darwin.exp(x) }
#endif
