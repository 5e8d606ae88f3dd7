import ArgumentParser
import Switchyard
import SwitchyardCUDA

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Conformance suite: random layers on the chosen device against the float64 CPU reference.",
        discussion: """
            Each case draws fresh random weights and inputs (rounded to bf16 values), poisons the device outputs \
            with NaN bytes, runs the layer twice (the two runs must give the same bytes), and compares O, H, the scores \
            and the dispatch metadata with the float64 \
            reference run on the device's own routing (routing itself must match the reference except at near-ties). \
            Cases cover every router, ragged and empty experts, all tokens on one expert, T = 1 and large T, and \
            the aux and z losses. On the GPU every other case runs the down-projection, combine and dX in token \
            chunks of ⌈T/3⌉ (as large layers do to bound memory). \
            With --backward, every gradient is compared too. Prints `N passed, M failed`; exits non-zero on failure.
            """)

    @OptionGroup var devices: DeviceOptions
    @Option(help: "Number of random cases.") var cases: Int = 24
    @Option(help: "Seed of the case generator (fresh inputs per seed).") var seed: UInt64 = 1
    @Option(help: "Largest token count drawn.") var maxTokens: Int?
    @Flag(help: "Also compare every gradient of the backward pass.") var backward = false

    func run() async throws {
        guard cases > 0 else { throw ValidationError("--cases must be positive") }
        let backend = try makeBackend(devices.device)
        let isGPU = backend.device == .cuda
        let storage: StoragePrecision = isGPU ? .bfloat16 : .float32
        let maxT = maxTokens ?? (isGPU ? 65536 : 4096)
        print("check on \(backend.description): \(cases) cases, seed \(seed), tolerance \(Conformance.tolerance(for: storage)) (relative L2)")
        var passed = 0, failed = 0
        let gpu = backend as? GPUBackend
        for (i, c) in Conformance.randomCases(count: cases, seed: seed, maxTokens: maxT, gpuShapes: isGPU).enumerated() {
            // Odd cases run the chunked path: chunks of ⌈T/3⌉ tokens (none when T = 1).
            gpu?.chunkTokens = i % 2 == 1 ? max(1, (c.tokens + 2) / 3) : nil
            let chunks = gpu?.chunkTokens.map { " chunks of \($0)" } ?? ""
            let result = backward
                ? Conformance.runBackward(c, on: backend, storage: storage)
                : Conformance.run(c, on: backend, storage: storage)
            let errors = result.errors.map { "\($0.name) \(format($0.value))" }.joined(separator: " ")
            let routing = result.routingMismatches > 0 ? " routing-near-ties \(result.routingMismatches)" : ""
            print("\(result.passed ? "PASS" : "FAIL") \(i + 1)/\(cases) \(c)\(chunks)  \(errors)\(routing)")
            for failure in result.failures { print("     \(failure)") }
            if result.passed { passed += 1 } else { failed += 1 }
        }
        print("\(passed) passed, \(failed) failed")
        if failed > 0 { throw ExitCode.failure }
    }
}

func format(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    var exponent = 0
    var mantissa = abs(value)
    if mantissa == 0 { return "0" }
    while mantissa >= 10 { mantissa /= 10; exponent += 1 }
    while mantissa < 1 { mantissa *= 10; exponent -= 1 }
    var rounded = (mantissa * 100).rounded() / 100
    if rounded >= 10 {  // 9.996 rounds up to 10.0: print 1.0e(x+1)
        rounded /= 10
        exponent += 1
    }
    return "\(value < 0 ? "-" : "")\(rounded)e\(exponent)"
}
