import Engine
import Testing

@testable import Training

/// Precise BN's recalibration keeps the statistics of channels without signal.
@Suite struct PreciseBatchNormTests {
    /// A channel dead on every calibration batch would get variance 0 (seen in FPN channels of
    /// a briefly trained b0 at 64² tiles, whose model then gave logits near 4,000): it keeps
    /// its previous mean and variance; live channels take the recalibrated ones.
    @Test func deadChannelsKeepTheirStatistics() throws {
        let store = try ParameterStore(architecture: "effunet-b0")
        try store.load(from: DeterministicWeights())
        let before = store.values
        let variance = try #require(store.entries.first { $0.key.hasSuffix(".running_var") })
        let mean = try #require(store.entry(String(variance.key.dropLast("running_var".count)) + "running_mean"))
        // Recalibrated: channel 0 dead (variance 0), channel 1 live.
        store.values[variance.range.lowerBound] = 0
        store.values[mean.range.lowerBound] = 0.25
        store.values[variance.range.lowerBound + 1] = 2.5
        store.values[mean.range.lowerBound + 1] = 0.75
        let kept = TrainingEvaluation.keepStatisticsWithoutSignal(store, before: before)
        #expect(kept == 1)
        #expect(store.values[variance.range.lowerBound] == before[variance.range.lowerBound] && before[variance.range.lowerBound] > 0)
        #expect(store.values[mean.range.lowerBound] == before[mean.range.lowerBound])
        #expect(store.values[variance.range.lowerBound + 1] == 2.5 && store.values[mean.range.lowerBound + 1] == 0.75)
    }
}
