import ArgumentParser
struct InferCommand: ParsableCommand { static let configuration = CommandConfiguration(commandName: "infer") }
