import Core
import Foundation
import Shared
import Testing

@testable import Fuzzing

/// A bounded run of every fuzz target, and every input a fuzzer once crashed on. The long
/// runs are `make fuzz` (libFuzzer) and `tessera fuzz`.
@Suite(.serialized) struct FuzzTests {
    /// Inputs a target runs in the test suite: its seeds and then seeded mutations.
    static let runs: [FuzzTarget: Int] = [.codec: 100_000, .worker: 50_000, .client: 50_000, .coordinator: 2_000, .ring: 100_000]

    @Test(arguments: FuzzTarget.allCases)
    func aBoundedSeededRunFindsNothing(target: FuzzTarget) throws {
        let report = try SeededFuzzer.run(target, runs: Self.runs[target]!, seconds: 20, seed: 20261130)
        #expect(report.executions >= min(Self.runs[target]!, 200), "\(report)")
    }

    /// Every file in Regressions/TARGET/ once stopped a process; run through its target
    /// (and through the codec), it must not any more.
    @Test func everyRegressionRunsCleanly() throws {
        let folder = try #require(Bundle.module.resourceURL?.appendingPathComponent("Regressions").path)
        var count = 0
        for target in FuzzTarget.allCases {
            let directory = folder + "/" + target.rawValue
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            try target.prepare()
            for name in names.sorted() {
                let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
                target.run(bytes)
                FuzzTarget.codec.run(bytes)
                count += 1
            }
        }
        #expect(count >= 1)
    }

    /// The input layout reads back what it wrote, and any bytes read as some input.
    @Test func inputsRoundTripAndAnyBytesRead() {
        let input = FuzzInput([.init(channel: 7, frames: [[1, 2], []]), .init(channel: 0, frames: [[UInt8](repeating: 9, count: 300)])])
        #expect(FuzzInput(bytes: input.bytes) == input)
        var mutator = Mutator(seed: 3)
        for _ in 0..<2_000 {
            let bytes = (0..<mutator.below(300)).map { _ in UInt8(truncatingIfNeeded: mutator.next()) }
            #expect(FuzzInput(bytes: bytes).messages.count <= FuzzInput.maxMessages)
        }
    }

    /// The codec target fails on a value that does not survive the round trip: shown with
    /// a seed, since a finding stops the process.
    @Test func seedsOfEveryKindDecode() throws {
        let kinds = Set(FuzzSeeds.everyKind.compactMap { try? WireCodec.open($0).get().0 })
        #expect(kinds.count == WireKind.allCases.count)
    }
}
