import ArgumentParser
#if canImport(Glibc)
@preconcurrency import Glibc
#elseif canImport(Darwin)
@preconcurrency import Darwin
#endif

@main
struct SwitchyardCommand: AsyncParsableCommand {
    /// ArgumentParser's entry point, with standard output flushed line by line first: a long `check` or `bench`
    /// whose output goes to a file or a pipe then keeps every line it printed if it is killed (by a timeout, say).
    static func main() async {
        setvbuf(stdout, nil, _IOLBF, 0)  // line-buffered: stdout is fully buffered when it is not a terminal
        await main(nil)
    }

    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "Switchyard: a Mixture-of-Experts execution engine (CPU reference, Hopper GPU kernels).",
        subcommands: [
            RunCommand.self, BenchCommand.self, CheckCommand.self, TrainCommand.self, ModelCommand.self,
            PlanCommand.self, SweepCommand.self, EPBenchCommand.self, DevicesCommand.self,
        ]
    )
}
