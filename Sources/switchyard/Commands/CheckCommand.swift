import ArgumentParser

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "(not built yet)")
    func run() async throws { throw ValidationError("'check' is not built yet") }
}
