import Switchyard
import SwitchyardCUDA
import Glibc

/// Stderr, for progress and notices (stdout stays clean for tables and JSON).
func note(_ message: String) {
    var stream = StandardError()
    print(message, to: &stream)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}

/// Opens the CUDA backend: the first GPU, kernels compiled by NVRTC through the on-disk cache.
func makeGPUBackend() throws -> GPUBackend {
    let context = try CUDAContext.open()
    return try GPUBackend(context: context, cache: try KernelCache())
}

/// The backend `--device` asks for. `auto` takes a usable CUDA GPU, else says that it chose the CPU.
func makeBackend(_ choice: DeviceChoice) throws -> any Backend {
    switch choice {
    case .cpu:
        return CPUBackend()
    case .cuda:
        return try makeGPUBackend()
    case .auto:
        do {
            return try makeGPUBackend()
        } catch {
            note("device auto: no usable CUDA GPU (\(error)); chose the CPU")
            return CPUBackend()
        }
    }
}

