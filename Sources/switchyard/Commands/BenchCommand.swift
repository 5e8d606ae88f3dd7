import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench", abstract: "(not built yet)")
    func run() async throws { throw ValidationError("'bench' is not built yet") }
}
