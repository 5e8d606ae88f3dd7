import ArgumentParser
import SwitchyardCUDA

/// `switchyard devices`: where the CUDA libraries were found, the driver and NVRTC versions, and each GPU.
struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "Show the CUDA libraries found, the driver and NVRTC versions, and each GPU.",
        discussion: "Exits 0 on a machine with no GPU, saying so in one line."
    )

    @Flag(help: "Also compile the kernels (Hopper and newer) and show what they make of each GPU: the multicast GEMMs' resident clusters.")
    var kernels = false

    func run() async throws {
        print("CUDA libraries:")
        for line in CUDALibraries.report().split(separator: "\n") { print("  \(line)") }
        do {
            let compiler = try NVRTCCompiler()
            print("NVRTC:  \(compiler.version.major).\(compiler.version.minor) from \(compiler.location.path)")
        } catch {
            print("NVRTC:  unavailable: \(error)")
        }
        let count: Int
        do {
            let version = try CUDAContext.driverVersion()
            print("Driver: CUDA \(version.major).\(version.minor)")
            count = try CUDAContext.deviceCount()
        } catch {
            print("No CUDA GPU usable: \(error)")
            return
        }
        guard count > 0 else {
            print("No CUDA GPU: the driver loaded but found no device.")
            return
        }
        for ordinal in 0..<count {
            do {
                let context = try CUDAContext.open(ordinal: ordinal)
                print(Self.describe(context))
                if kernels, context.computeCapability.major >= 9 {
                    print(Self.describeKernels(try GPUKernels(context: context, cache: try KernelCache())))
                }
            } catch {
                print("GPU \(ordinal): cannot open: \(error)")
            }
        }
    }

    static func describe(_ context: CUDAContext) -> String {
        let capability = context.computeCapability
        return """
            GPU \(context.ordinal): \(context.deviceName)
              compute capability \(capability.major).\(capability.minor) (\(context.architecture)), \
            \(context.multiprocessorCount) SMs
              memory \(mebibytes(context.totalMemory)) MiB, L2 \(mebibytes(context.l2CacheBytes)) MiB, \
            shared memory per block (opt-in) \(context.maxSharedMemoryPerBlockOptin / 1024) KiB
            """
    }

    /// What the kernels make of this GPU once compiled: how many clusters of two the multicast GEMMs keep resident.
    static func describeKernels(_ kernels: GPUKernels) -> String {
        func show(_ n: Int?) -> String { n.map(String.init) ?? "unknown (driver has no cuOccupancyMaxActiveClusters)" }
        let sms = kernels.context.multiprocessorCount
        let counts = kernels.multicastClusters
        return "  multicast bf16 GEMM: \(show(counts.tmaLoadsAndStores)) clusters of 2 resident (A by TMA, TMA stores), "
            + "\(show(counts.tmaStores)) (TMA stores), \(show(counts.threadStores)) (thread stores); "
            + "\(sms / 2) if every SM paired"
    }

    private static func mebibytes(_ bytes: Int) -> Int { bytes / (1 << 20) }
}
