import ArgumentParser

struct EPBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ep-bench", abstract: "(not built yet)")
    func run() async throws { throw ValidationError("'ep-bench' is not built yet") }
}
