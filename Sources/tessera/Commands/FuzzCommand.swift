import ArgumentParser
import Foundation
import Fuzzing

/// `tessera fuzz`: the seeded fuzzer over the wire codec and the handlers behind it.
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz the wire codec and the message handlers of workers, coordinators and clients.",
        discussion: """
            Runs each target's seeds (valid messages of every kind, in real sequences), then \
            seeded mutations of them, in this process; a finding stops it with the input left in \
            --last-input. The same seed gives the same inputs on every machine. `make fuzz` runs \
            the same targets under libFuzzer, with coverage feedback (docs/FUZZING.md).
            """
    )
    @Option(help: "The targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")) (default: all).") var target: [String] = []
    @Option(help: "Inputs per target at most.") var runs = 100_000
    @Option(help: "Seconds per target at most.") var seconds = 60.0
    @Option(help: "Seed of the mutations.") var seed: UInt64 = 1
    @Option(help: "Where each input is written before it runs, so a crash leaves it behind.") var lastInput = "fuzz-last-input.bin"
    @Option(help: "Write each target's seeds into DIR/TARGET/ and stop (a libFuzzer corpus).") var writeSeeds: String?
    @Option(help: "Run these input files (crashes found before) through the targets and stop.") var replay: [String] = []

    func targets() throws -> [FuzzTarget] {
        if target.isEmpty { return FuzzTarget.allCases }
        return try target.map { name in
            guard let chosen = FuzzTarget(rawValue: name) else {
                throw ValidationError("unknown target \(name) (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return chosen
        }
    }

    func validate() throws {
        _ = try targets()
        guard runs >= 1, seconds > 0 else { throw ValidationError("--runs and --seconds must be positive") }
    }

    func run() throws {
        for target in try targets() {
            if let writeSeeds {
                let folder = writeSeeds + "/" + target.rawValue
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                try target.prepare()
                for (index, seed) in try target.seeds().enumerated() {
                    try Data(seed).write(to: URL(fileURLWithPath: folder + "/seed-\(index)"))
                }
                print("\(target.rawValue): seeds in \(folder)")
            } else if !replay.isEmpty {
                try target.prepare()
                for path in replay {
                    guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
                    target.run([UInt8](data))
                }
                print("\(target.rawValue): \(replay.count) inputs ran without a finding")
            } else {
                let report = try SeededFuzzer.run(target, runs: runs, seconds: seconds, seed: seed, lastInput: lastInput)
                print(
                    String(
                        format: "%@: %d inputs in %.1f s (%.0f/s), no finding", target.rawValue, report.executions, report.seconds,
                        Double(report.executions) / max(report.seconds, 1e-9)))
            }
        }
    }
}
