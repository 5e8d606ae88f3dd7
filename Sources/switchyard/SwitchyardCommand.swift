import ArgumentParser

@main
struct SwitchyardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard",
        abstract: "Switchyard: a Mixture-of-Experts execution engine (CPU reference, Hopper GPU kernels).",
        subcommands: [
            RunCommand.self, BenchCommand.self, CheckCommand.self, TrainCommand.self, ModelCommand.self,
            PlanCommand.self, SweepCommand.self, EPBenchCommand.self, DevicesCommand.self,
        ]
    )
}
