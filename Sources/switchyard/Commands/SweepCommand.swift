import ArgumentParser

struct SweepCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sweep", abstract: "(not built yet)")
    func run() async throws { throw ValidationError("'sweep' is not built yet") }
}
