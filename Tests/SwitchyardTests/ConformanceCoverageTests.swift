import Testing
@testable import Switchyard

/// `switchyard check --device cuda` draws its shapes from `Conformance.randomCases(gpuShapes: true)`; the GPU picks a
/// kernel's tile width from the shape (GPUMoELayer: dH 256 wide when n % 256 == 0, the up-projection when
/// n % 128 == 0, the N = d GEMMs when d ≥ 256,
/// dWr when E ≥ 256). A width no case reaches is a kernel no check ever runs.
@Suite("Conformance case coverage")
struct ConformanceCoverageTests {
    @Test("the default 24 GPU cases reach every tile width, for any seed tried", arguments: [UInt64(1), 7, 22, 7101, 424242])
    func gpuCasesReachEveryWidth(seed: UInt64) {
        // Over several seeds, so a lucky seed does not hide a generator that cannot reach a width.
        let cases = Conformance.randomCases(count: 24, seed: seed, gpuShapes: true)
        let n = cases.map(\.config.intermediate), d = cases.map(\.config.hidden)
        #expect(n.contains { $0 % 256 == 0 }, "no case gives the dH kernel 256-wide tiles (seed \(seed))")
        #expect(n.contains { $0 % 128 != 0 }, "no case gives the up-projection 128-wide tiles (seed \(seed))")
        #expect(n.contains { $0 % 128 == 0 && $0 % 256 != 0 }, "no case has n = 128 (seed \(seed))")
        #expect(d.contains { $0 >= 256 }, "no case gives the N = d GEMMs 256-wide tiles (seed \(seed))")
        #expect(d.contains { $0 < 256 }, "no case gives the N = d GEMMs 128-wide tiles (seed \(seed))")
        #expect(d.contains { $0 % 256 != 0 && $0 > 256 }, "no case has a partial last N tile (seed \(seed))")
        #expect(cases.contains { $0.config.experts >= 256 }, "no case gives dWr (N = E) 256-wide tiles (seed \(seed))")
        // Column chunks (odd cases): some at a column offset in 256-wide chunks (the cooperative kernels), some in
        // narrower ones (ping-pong and one-role).
        let chunks = cases.enumerated().compactMap { Conformance.checkChunkColumns(caseIndex: $0.offset, hidden: $0.element.config.hidden) }
        #expect(cases.enumerated().contains { i, c in
            Conformance.checkChunkColumns(caseIndex: i, hidden: c.config.hidden) == 256 && c.config.hidden >= 512
        }, "no case runs two 256-column chunks (seed \(seed))")
        #expect(chunks.contains { $0 < 256 }, "no case runs narrower column chunks (seed \(seed))")
    }
}
