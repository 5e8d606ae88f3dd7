import CSwitchyardCUDA

/// Loads the CUDA driver library once per process and initializes it.
enum CUDADriver {
    /// The outcome of the one load, kept so that every later call fails with the same clear message.
    private static let loaded: Result<CUDALibraryLocation, CUDAError> = load()

    /// Loads and initializes the driver if that has not happened yet; throws why it cannot be used.
    static func ensureLoaded() throws(CUDAError) {
        if case .failure(let error) = loaded { throw error }
    }

    /// Where the driver was loaded from, or the error that stopped it.
    static var location: Result<CUDALibraryLocation, CUDAError> { loaded }

    /// The driver's CUDA version as (major, minor), e.g. (13, 0).
    static func version() throws -> (major: Int, minor: Int) {
        try ensureLoaded()
        var version: Int32 = 0
        try check(sy_cuDriverGetVersion(&version), "cuDriverGetVersion")
        return (Int(version) / 1000, Int(version) % 1000 / 10)
    }

    /// The number of CUDA devices; 0 when the driver loads but finds no GPU.
    static func deviceCount() throws -> Int {
        try ensureLoaded()
        var count: Int32 = 0
        let result = sy_cuDeviceGetCount(&count)
        if result == noDevice { return 0 }
        try check(result, "cuDeviceGetCount")
        return Int(count)
    }

    /// CUDA_ERROR_NO_DEVICE: the driver works but sees no GPU.
    static let noDevice: Int32 = 100

    private static func load() -> Result<CUDALibraryLocation, CUDAError> {
        let location = CUDALibraries.locate(.driver)
        var message = [CChar](repeating: 0, count: 1024)
        guard sy_cuda_load(location.path, &message, message.count) == 0 else {
            return .failure(CUDAError(
                rawValue: CUDAError.notLoaded, name: "SWITCHYARD_DRIVER_NOT_FOUND",
                message: "\(String(nulTerminated: message)). No NVIDIA driver on this machine? Set SWITCHYARD_CUDA_HOME to "
                    + "a folder whose lib64 holds libcuda.so.1, or add it to LD_LIBRARY_PATH.",
                call: "dlopen(\(location.path))"))
        }
        let result = sy_cuInit(0)
        // With no GPU, cuInit itself reports CUDA_ERROR_NO_DEVICE; deviceCount() turns that into 0.
        guard result == 0 || result == noDevice else { return .failure(CUDAError.driver(result, call: "cuInit")) }
        return .success(location)
    }
}
