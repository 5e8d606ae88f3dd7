import Testing
import Switchyard
@testable import SwitchyardCUDA

@Suite("NVRTC compiler", .enabled(if: TestEnvironment.nvrtcEnabled, TestEnvironment.nvrtcSkipReason))
struct NVRTCCompilerTests {
    /// bf16 and fp8 from the CUDA headers, a header by name, and a Hopper-only instruction.
    static let probeSource = """
        #include <cuda_bf16.h>
        #include <cuda_fp8.h>
        #include "probe_scale.cuh"
        extern "C" __global__ void probe(const __nv_bfloat16 *x, __nv_fp8_e4m3 *y, float *z, int n) {
            asm volatile("wgmma.fence.sync.aligned;\\n" ::: "memory");
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) {
                float v = __bfloat162float(x[i]) * PROBE_SCALE;
                y[i] = __nv_fp8_e4m3(v);
                z[i] = v;
            }
        }
        """
    static let probeHeaders = ["probe_scale.cuh": "#define PROBE_SCALE 2.0f\n"]

    @Test("compiles a kernel with bf16, fp8 and wgmma.fence for sm_90a and reports its registers")
    func compilesHopperKernel() throws {
        let compiler = try NVRTCCompiler()
        #expect(compiler.version.major >= 12)
        let kernels = try compiler.compile(source: Self.probeSource, name: "probe.cu", headers: Self.probeHeaders,
                                           architecture: "sm_90a")
        #expect(kernels.cubin.starts(with: [0x7F, 0x45, 0x4C, 0x46]), "a cubin is an ELF file")
        #expect(kernels.log.contains("sm_90a"))
        let probe = try #require(kernels.resources["probe"], "ptxas -v reported: \(kernels.log)")
        #expect(probe.registers > 0)
        #expect(!probe.spills)
    }

    @Test("a compile error throws the full compile log")
    func compileErrorCarriesLog() throws {
        let compiler = try NVRTCCompiler()
        let source = "extern \"C\" __global__ void broken(float *x) { x[0] = undeclared_value_1234; }\n"
        let error = try #require(throws: CUDAError.self) {
            try compiler.compile(source: source, name: "broken.cu", architecture: "sm_90a")
        }
        #expect(error.name == "NVRTC_ERROR_COMPILATION")
        #expect(error.call.contains("broken.cu"))
        #expect(error.message.contains("undeclared_value_1234"))
        #expect(error.description.contains("broken.cu"))
    }

    @Test("an unknown architecture is refused before compiling", arguments: ["90a", "sm_", "compute_90", "sm_9x"])
    func badArchitecture(architecture: String) throws {
        let compiler = try NVRTCCompiler()
        #expect(throws: SwitchyardError.self) {
            try compiler.compile(source: "", name: "empty.cu", architecture: architecture)
        }
    }
}
