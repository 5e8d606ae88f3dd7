import Foundation
import Testing
import SwitchyardCUDA

@Suite("Switchyard's kernels")
struct KernelSourcesTests {
    /// `Sources/SwitchyardCUDA/Kernels`, found from this file's path.
    static let kernelsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/SwitchyardCUDA/Kernels")

    /// The embedded unit `name` compiled for sm_90a with the backend's options.
    static func compiled(_ name: String) throws -> CompiledKernels {
        let source = try #require(KernelSources.all.first { $0.name == name }?.source)
        return try NVRTCCompiler().compile(source: source, name: name, headers: KernelSources.headers,
                                           options: KernelSources.compileOptions, architecture: "sm_90a")
    }

    @Test("KernelSources lists every .cu and .cuh file of the Kernels folder, with its current text")
    func listsEveryFile() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.kernelsFolder.path)
        let units = Set(files.filter { $0.hasSuffix(".cu") })
        let headers = Set(files.filter { $0.hasSuffix(".cuh") })
        #expect(Set(KernelSources.all.map(\.name)) == units)
        #expect(Set(KernelSources.headers.keys) == headers)
        for (name, source) in KernelSources.all {
            let onDisk = try String(contentsOf: Self.kernelsFolder.appendingPathComponent(name), encoding: .utf8)
            #expect(source == onDisk, "\(name) is embedded as in the file")
        }
    }

    @Test("every kernel compiles for sm_90a with the backend's options, without spilling or serialized wgmma",
          .enabled(if: TestEnvironment.nvrtcEnabled, TestEnvironment.nvrtcSkipReason),
          arguments: KernelSources.all.map(\.name))
    func compilesWithoutSpills(name: String) throws {
        let kernels = try Self.compiled(name)
        #expect(!kernels.cubin.isEmpty)
        #expect(!kernels.resources.isEmpty, "\(name): ptxas reported no function: \(kernels.log)")
        for (function, resources) in kernels.resources.sorted(by: { $0.key < $1.key }) {
            #expect(resources.spillStoreBytes == 0 && resources.spillLoadBytes == 0,
                    "\(name): \(function) spills \(resources.spillStoreBytes) bytes stored, \(resources.spillLoadBytes) loaded")
        }
        // ptxas info C7519: warpgroup.arrive injected so that registers may be used in GMMA, which serializes the
        // wgmmas around it (v16.2: a wgmma under a condition in the weight gradients' k-loop made them 11–18%
        // slower, docs/kernel-notes.md).
        let injected = kernels.log.split(whereSeparator: \.isNewline).filter { $0.contains("(C7519)") }
        #expect(injected.count == 0, "\(name): warpgroup.arrive injected, first: \(injected.first ?? "")")
    }

    @Test("the weight-gradient unit defines the 8 kernels the host looks up (fp32/bf16, cp.async/TMA, 128/256)",
          .enabled(if: TestEnvironment.nvrtcEnabled, TestEnvironment.nvrtcSkipReason))
    func weightGradientKernels() throws {
        let name = "moe_weight_grad.cu"
        let kernels = try Self.compiled(name)
        for base in ["sy_gemm_weight_grad", "sy_gemm_weight_grad_tma", "sy_gemm_weight_grad_bf16",
                     "sy_gemm_weight_grad_tma_bf16"] {
            for width in [128, 256] {
                #expect(kernels.resources["\(base)_\(width)"] != nil, "\(base)_\(width) is missing from \(name)")
            }
        }
        #expect(WeightGradientPrecision(rawValue: "bf16") == .bfloat16)
        #expect(WeightGradientPrecision(rawValue: "fp32") == .float32)
        #expect(WeightGradientPrecision(rawValue: "fp16") == nil)
    }

    @Test("the grouped-GEMM unit defines the warp-specialized kernels, the overlapped one on 232 registers",
          .enabled(if: TestEnvironment.nvrtcEnabled, TestEnvironment.nvrtcSkipReason))
    func warpSpecializedKernels() throws {
        let name = "moe_grouped_gemm.cu"
        let kernels = try Self.compiled(name)
        for kernel in ["sy_gemm_bf16_pingpong", "sy_gemm_bf16_coop", "sy_gemm_bf16_coop_mc", "sy_gemm_bf16_coop_mc_ts",
                       "sy_gemm_bf16_coop_mc_ts_ta", "sy_gemm_bf16_coop_mc_ts_ta_ov", "sy_gemm_bf16_coop_mc_ts_ah",
                       "sy_gemm_dswiglu_ws"] {
            #expect(kernels.resources[kernel] != nil, "\(kernel) is missing from \(name)")
        }
        // 384 threads at one block per SM: ptxas reports the entry's 168 registers, and spills nothing (checked
        // above) although the overlapped epilogue holds 128 accumulators and 64 packed pairs: the consumers'
        // setmaxnreg took effect.
        #expect(kernels.resources["sy_gemm_bf16_coop_mc_ts_ta_ov"]?.registers == 168)
    }

    @Test("SWITCHYARD_KERNEL_DEFINES becomes -D options, and anything but NAME or NAME=INTEGER is refused")
    func experimentDefines() throws {
        #expect(try KernelSources.experimentDefines(nil) == [])
        #expect(try KernelSources.experimentDefines("") == [])
        #expect(try KernelSources.experimentDefines("SY_DH_PREFETCH_STEPS=8 SY_TS_QUARTERS")
                == ["-DSY_DH_PREFETCH_STEPS=8", "-DSY_TS_QUARTERS"])
        #expect(try KernelSources.options(environment: ["SWITCHYARD_KERNEL_DEFINES": "SY_TS_QUARTERS=1"])
                == KernelSources.compileOptions + ["-DSY_TS_QUARTERS=1"])
        #expect(try KernelSources.options(environment: [:]) == KernelSources.compileOptions)
        for bad in ["SY_X=eight", "8X=1", "SY-X=1", "SY_X=1;rm", "=1", "SY_X=1=2"] {
            #expect(throws: CUDAError.self, "\(bad)") { try KernelSources.experimentDefines(bad) }
        }
    }
}
