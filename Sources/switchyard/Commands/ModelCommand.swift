import ArgumentParser

struct ModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "(not built yet)")
    func run() async throws { throw ValidationError("'model' is not built yet") }
}
