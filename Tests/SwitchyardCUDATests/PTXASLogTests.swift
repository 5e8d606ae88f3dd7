import Foundation
import Testing
import SwitchyardCUDA

@Suite("ptxas -v log parser")
struct PTXASLogTests {
    /// Captured from NVRTC 13.0's `-Xptxas=-v` log, with the numbers changed to tell the fields apart and an
    /// indented properties line (the form older ptxas versions print) for the helper.
    static let sample = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function 'gemm' for 'sm_90a'
        ptxas info    : Function properties for gemm
        ptxas         .     40 bytes stack frame, 36 bytes spill stores, 28 bytes spill loads
        ptxas info    : Used 168 registers, used 1 barriers, 40 bytes cumulative stack size, 2048 bytes smem
        ptxas info    : Compile time = 16.145 ms
        ptxas info    : Function properties for _Z6helperPf
            24 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Compiling entry function '_Z5scalePfif' for 'sm_90a'
        ptxas info    : Function properties for _Z5scalePfif
        ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 10 registers, used 0 barriers, 372 bytes cmem[0]
        """

    @Test("registers, spills, stack and shared memory are read per function")
    func parsesEachFunction() throws {
        let resources = KernelResources.parse(ptxasLog: Self.sample)
        #expect(Set(resources.keys) == ["_Z6helperPf", "gemm", "_Z5scalePfif"])
        let gemm = try #require(resources["gemm"])
        #expect(gemm == KernelResources(registers: 168, spillStoreBytes: 36, spillLoadBytes: 28, stackFrameBytes: 40,
                                        sharedBytes: 2048))
        #expect(gemm.spills)
        let scale = try #require(resources["_Z5scalePfif"])
        #expect(scale == KernelResources(registers: 10))
        #expect(!scale.spills)
        #expect(resources["_Z6helperPf"] == KernelResources(stackFrameBytes: 24))
    }

    @Test("a log with no ptxas lines gives no resources; CRLF line ends are accepted")
    func emptyAndCRLF() {
        #expect(KernelResources.parse(ptxasLog: "").isEmpty)
        #expect(KernelResources.parse(ptxasLog: "warning: something\n").isEmpty)
        let crlf = Self.sample.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(KernelResources.parse(ptxasLog: crlf) == KernelResources.parse(ptxasLog: Self.sample))
    }
}
