import ArgumentParser
import Switchyard

/// `--device auto|cpu|cuda`.
enum DeviceChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, cpu, cuda
}

/// The common `--device` option.
struct DeviceOptions: ParsableArguments {
    @Option(help: "Where to run: auto (a CUDA GPU when one is usable, else the CPU), cpu or cuda.")
    var device: DeviceChoice = .auto
}
