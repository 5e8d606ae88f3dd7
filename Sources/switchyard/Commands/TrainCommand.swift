import ArgumentParser

struct TrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "(not built yet)")
    func run() async throws { throw ValidationError("'train' is not built yet") }
}
