import Testing
import SwitchyardCUDA

@Suite("GPU telemetry (NVML)")
struct GPUTelemetryTests {
    @Test("the medians of samples are taken per quantity; no samples give none")
    func medians() throws {
        typealias S = GPUTelemetry.Sample
        let samples = [S(smClockMHz: 1980, powerWatts: 300, temperatureCelsius: 40),
                       S(smClockMHz: 1485, powerWatts: 699.5, temperatureCelsius: 62),
                       S(smClockMHz: 1545, powerWatts: 690, temperatureCelsius: 51)]
        #expect(GPUTelemetry.median(samples) == S(smClockMHz: 1545, powerWatts: 690, temperatureCelsius: 51))
        #expect(GPUTelemetry.median([]) == nil)
    }

    @Test("on a GPU, NVML finds the CUDA device by its PCI bus id and reads a plausible clock, power and temperature",
          .enabled(if: TestEnvironment.gpuPresent, TestEnvironment.gpuSkipReason))
    func readsTheDevice() throws {
        let context = try CUDAContext.open()
        let telemetry = try GPUTelemetry.open(context).get()
        #expect(!telemetry.pciBusId.isEmpty)
        let sample = try #require(telemetry.sample())
        #expect((100...4000).contains(sample.smClockMHz))
        #expect(sample.powerWatts > 5 && sample.powerWatts < 2000)
        #expect((5...120).contains(sample.temperatureCelsius))
    }
}
