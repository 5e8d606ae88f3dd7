import ArgumentParser

struct DevicesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "devices", abstract: "(not built yet)")
    func run() async throws { throw ValidationError("'devices' is not built yet") }
}
