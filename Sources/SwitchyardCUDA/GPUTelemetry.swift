import CSwitchyardCUDA

/// The SM clock, board power and GPU temperature of one GPU, read through NVML (`libnvidia-ml.so.1`, installed
/// with the driver and loaded with dlopen). Hopper parts run MoE layers at their power cap, where the clock, and so
/// every time measured, depends on the load of the last second or so; `switchyard bench` samples this beside each
/// timed run so that its results carry the clock they were measured at.
///
/// ```swift
/// switch GPUTelemetry.open(context) {
/// case .success(let telemetry): print(telemetry.sample() as Any)   // an H200 at 30B-n256: 1440 MHz, 692 W, 61 °C
/// case .failure(let unavailable): print("no telemetry: \(unavailable)")
/// }
/// ```
public final class GPUTelemetry: @unchecked Sendable {
    /// Why there are no readings.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String
    }

    public struct Sample: Sendable, Equatable {
        public var smClockMHz: Int
        public var powerWatts: Double
        public var temperatureCelsius: Int

        public init(smClockMHz: Int, powerWatts: Double, temperatureCelsius: Int) {
            self.smClockMHz = smClockMHz
            self.powerWatts = powerWatts
            self.temperatureCelsius = temperatureCelsius
        }
    }

    private let device: UnsafeMutableRawPointer
    /// The PCI bus id NVML found the device by (that of the CUDA device).
    public let pciBusId: String

    private init(device: UnsafeMutableRawPointer, pciBusId: String) {
        self.device = device
        self.pciBusId = pciBusId
    }

    /// NVML's view of `context`'s GPU (matched by PCI bus id), or why there is none: NVML missing, not initialized,
    /// or not knowing the device.
    public static func open(_ context: CUDAContext) -> Result<GPUTelemetry, Unavailable> {
        var message = [CChar](repeating: 0, count: 512)
        let path = CUDALibraries.locate(.nvml).path
        guard sy_nvml_load(path, &message, message.count) == 0 else {
            return .failure(Unavailable(description: "NVML (\(path)): \(String(nulTerminated: message))"))
        }
        var bus = [CChar](repeating: 0, count: 64)
        let found = sy_cuDeviceGetPCIBusId(&bus, Int32(bus.count), context.device)
        guard found == 0 else { return .failure(Unavailable(description: "cuDeviceGetPCIBusId failed (\(found))")) }
        let busId = String(nulTerminated: bus)
        var device: UnsafeMutableRawPointer?
        let result = busId.withCString { sy_nvml_device_by_pci_bus_id($0, &device) }
        guard result == 0, let device else {
            return .failure(Unavailable(
                description: "NVML does not know the device at \(busId): \(String(cString: sy_nvml_error_string(result)))"))
        }
        return .success(GPUTelemetry(device: device, pciBusId: busId))
    }

    /// The current SM clock, power draw and temperature; nil if NVML cannot read one of them.
    public func sample() -> Sample? {
        var mhz: UInt32 = 0, milliwatts: UInt32 = 0, celsius: UInt32 = 0
        guard sy_nvml_sm_clock(device, &mhz) == 0, sy_nvml_power(device, &milliwatts) == 0,
              sy_nvml_temperature(device, &celsius) == 0 else { return nil }
        return Sample(smClockMHz: Int(mhz), powerWatts: Double(milliwatts) / 1000, temperatureCelsius: Int(celsius))
    }

    /// Medians of each quantity over `samples` (nil when empty).
    public static func median(_ samples: [Sample]) -> Sample? {
        guard !samples.isEmpty else { return nil }
        func mid<T: Comparable>(_ values: [T]) -> T { values.sorted()[values.count / 2] }
        return Sample(smClockMHz: mid(samples.map(\.smClockMHz)), powerWatts: mid(samples.map(\.powerWatts)),
                      temperatureCelsius: mid(samples.map(\.temperatureCelsius)))
    }
}
