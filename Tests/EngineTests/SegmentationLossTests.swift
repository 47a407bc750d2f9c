import Core
import Foundation
import Testing

@testable import Engine

/// The losses against values worked out by hand and their gradients against finite
/// differences.
@Suite struct SegmentationLossTests {
    /// Two images of 5×4 logits spread over ±6, masks with both classes.
    static func batch() -> (logits: [[Float]], masks: [[Float]]) {
        var random = SplitMix64(seed: 42)
        // Fine values: no two hinge errors tie (the Lovász hinge has a kink where they do).
        let logits = (0..<2).map { _ in (0..<20).map { _ in Float(Double(random.next() % 12_000_001) / 1_000_000 - 6) } }
        let masks = (0..<2).map { _ in (0..<20).map { _ in Float(random.next() % 3 == 0 ? 1 : 0) } }
        return (logits, masks)
    }

    @Test func valuesAreThoseOfTheDefinitions() throws {
        // One image, two pixels: z = (0, ln 3), y = (1, 0): σ = (1/2, 3/4) (ln 3 as a Float is
        // off by 1e-8, hence the tolerance).
        let z: [[Float]] = [[0, Float(log(3.0))]], y: [[Float]] = [[1, 0]]
        let bce = (log(2.0) + log(4.0)) / 2  // −log σ(0), −log(1 − 3/4)
        #expect(abs(try SegmentationLoss.bce().evaluate(logits: z, masks: y).loss - bce) < 1e-7)
        let dice = 1 - (2 * 0.5 + 1) / (1.25 + 1 + 1)
        #expect(abs(try SegmentationLoss.dice.evaluate(logits: z, masks: y).loss - dice) < 1e-7)
        #expect(abs(try SegmentationLoss.bceDice().evaluate(logits: z, masks: y).loss - (bce + dice)) < 1e-7)
        // pos_weight multiplies the positive pixels' term only.
        let weighted = (3 * log(2.0) + log(4.0)) / 2
        #expect(abs(try SegmentationLoss.bce(positiveWeight: 3).evaluate(logits: z, masks: y).loss - weighted) < 1e-7)
    }

    @Test(arguments: [SegmentationLoss.bce(), .bce(positiveWeight: 2.5), .dice, .bceDice(), .symmetricLovasz])
    func gradientsMatchFiniteDifferences(loss: SegmentationLoss) throws {
        let (logits, masks) = Self.batch()
        let gradients = try loss.evaluate(logits: logits, masks: masks).gradients
        let scale = gradients.flatMap { $0 }.map { abs($0) }.max()!
        // The Lovász hinge is piecewise linear, with kinks where two errors swap order: a
        // smaller step keeps most differences on one piece. The step actually taken (after
        // rounding to float) is the denominator.
        let h: Float = loss == .symmetricLovasz ? 1e-3 : 1e-2
        for b in logits.indices {
            for i in logits[b].indices {
                var up = logits, down = logits
                up[b][i] += h
                down[b][i] -= h
                let step = Double(up[b][i]) - Double(down[b][i])
                let numeric = (try loss.evaluate(logits: up, masks: masks).loss - (try loss.evaluate(logits: down, masks: masks).loss)) / step
                #expect(abs(numeric - Double(gradients[b][i])) <= 1e-3 * Double(scale), "\(loss) image \(b) pixel \(i)")
            }
        }
    }

    /// Huge logits do not overflow: the loss stays finite and its gradient bounded.
    @Test func extremeLogitsStayFinite() throws {
        let (loss, gradients) = try SegmentationLoss.bceDice().evaluate(logits: [[1e30, -1e30, 80, -80]], masks: [[0, 1, 1, 0]])
        #expect(loss.isFinite && gradients[0].allSatisfy { $0.isFinite && abs($0) <= 1 })
    }

    @Test func mismatchedShapesAreClearErrors() {
        #expect(throws: TesseraError.self) { try SegmentationLoss.dice.evaluate(logits: [[0, 1]], masks: [[0]]) }
        #expect(throws: TesseraError.self) { try SegmentationLoss.dice.evaluate(logits: [[0]], masks: []) }
    }
}
