import Core
import Foundation
import Testing

@testable import Engine

/// The optimisers against their PyTorch definitions worked step by step in double
/// precision, and the schedules against fast.ai's formulas.
@Suite struct OptimizerTests {
    let parameters: [Float] = [0.5, -1.25, 2, 0]
    let gradients: [[Float]] = [[0.1, -0.2, 0.3, -0.4], [-0.05, 0.1, 0.2, 0.0], [0.3, 0.3, -0.1, 0.2]]

    func close(_ a: [Float], _ b: [Double], _ tolerance: Double = 1e-6) -> Bool {
        zip(a, b).allSatisfy { abs(Double($0) - $1) <= tolerance * max(1, abs($1)) }
    }

    /// PyTorch's single-tensor updates, one element at a time in float32 in PyTorch's order
    /// (the optimiser's definition): the optimiser gives these bits exactly, over a slice of
    /// the buffers, with and without decay, whichever side of 0.5 AdamW's lerp weight is.
    static func scalarStep(
        _ optimizer: Optimizer, _ parameters: inout [Float], _ gradients: [Float], _ first: inout [Float], _ second: inout [Float],
        step: Int, range: Range<Int>, lr: Double, momentum scheduled: Double?, decays: Bool
    ) {
        switch optimizer {
        case .sgd(let momentum, let nesterov, let weightDecay):
            let momentum = Float(scheduled ?? momentum), decay = Float(decays ? weightDecay : 0), alpha = Float(-lr)
            for i in range {
                var d = gradients[i]
                if decay != 0 { d = d + decay * parameters[i] }
                if momentum != 0 {
                    first[i] = step == 1 ? d : first[i] * momentum + d
                    d = nesterov ? d + momentum * first[i] : first[i]
                }
                parameters[i] = parameters[i] + alpha * d
            }
        case .adamW(let beta1, let beta2, let epsilon, let weightDecay):
            let beta1 = scheduled ?? beta1
            let decay = Float(1 - lr * (decays ? weightDecay : 0))
            let weight = Float(1 - beta1), keep = Float(beta2), blend = Float(1 - beta2), eps = Float(epsilon)
            let value = Float(-(lr / (1 - pow(beta1, Double(step)))))
            let correction2Root = Float((1 - pow(beta2, Double(step))).squareRoot())
            for i in range {
                parameters[i] = parameters[i] * decay
                let m = first[i], g = gradients[i]
                first[i] = weight < 0.5 ? m + weight * (g - m) : g - (g - m) * (1 - weight)
                second[i] = second[i] * keep + blend * g * g
                let denominator = second[i].squareRoot() / correction2Root + eps
                parameters[i] = parameters[i] + value * (first[i] / denominator)
            }
        }
    }

    @Test(arguments: [
        (Optimizer.adamW(), nil as Double?), (.adamW(), 0.3), (.adamW(weightDecay: 0.1), 0.95),
        (.sgd(momentum: 0.9, nesterov: false, weightDecay: 1e-4), nil), (.sgd(momentum: 0.9, nesterov: true, weightDecay: 0), 0.85),
        (.sgd(), nil),
    ])
    func updatesAreTheScalarDefinitionBitForBit(optimizer: Optimizer, momentum: Double?) {
        var random = SplitMix64(seed: 3)
        let count = 1037, range = 5..<1030
        var parameters = (0..<count).map { _ in random.nextSigned() }
        var expected = parameters, first = [Float](repeating: 0, count: count), second = first
        var state = Optimizer.State(count: count, for: optimizer)
        for step in 1...4 {
            let gradients = (0..<count).map { _ in random.nextSigned() * 0.1 }
            state.step = step
            for decays in [true, false] {
                optimizer.step(&parameters, gradients: gradients, state: &state, range: range, lr: 3e-3, momentum: momentum, decays: decays)
                Self.scalarStep(optimizer, &expected, gradients, &first, &second, step: step, range: range, lr: 3e-3, momentum: momentum, decays: decays)
            }
            #expect(parameters.map(\.bitPattern) == expected.map(\.bitPattern), "step \(step)")
            #expect(state.first.map(\.bitPattern) == first.map(\.bitPattern))
            if case .adamW = optimizer { #expect(state.second.map(\.bitPattern) == second.map(\.bitPattern)) }
        }
    }

    @Test func adamWFollowsItsDefinition() {
        let (lr, b1, b2, eps, wd) = (1e-2, 0.9, 0.999, 1e-8, 0.01)
        var p = parameters
        var state = Optimizer.State(count: 4, for: .adamW())
        var reference = parameters.map(Double.init), m = [Double](repeating: 0, count: 4), v = m
        for (t, g) in gradients.enumerated() {
            Optimizer.adamW().step(&p, gradients: g, state: &state, lr: lr)
            for i in 0..<4 {
                reference[i] *= 1 - lr * wd
                m[i] = b1 * m[i] + (1 - b1) * Double(g[i])
                v[i] = b2 * v[i] + (1 - b2) * Double(g[i]) * Double(g[i])
                let mHat = m[i] / (1 - pow(b1, Double(t + 1))), vHat = v[i] / (1 - pow(b2, Double(t + 1)))
                reference[i] -= lr * mHat / (vHat.squareRoot() + eps)
            }
            #expect(close(p, reference), "step \(t + 1): \(p) against \(reference)")
        }
        #expect(state.step == 3)
    }

    @Test(arguments: [false, true])
    func sgdWithMomentumFollowsPyTorch(nesterov: Bool) {
        let (lr, mu, wd) = (0.1, 0.9, 1e-4)
        let optimizer = Optimizer.sgd(momentum: mu, nesterov: nesterov, weightDecay: wd)
        var p = parameters
        var state = Optimizer.State(count: 4, for: optimizer)
        var reference = parameters.map(Double.init), buffer = [Double](repeating: 0, count: 4)
        for (t, g) in gradients.enumerated() {
            optimizer.step(&p, gradients: g, state: &state, lr: lr)
            for i in 0..<4 {
                var d = Double(g[i]) + wd * reference[i]
                buffer[i] = t == 0 ? d : mu * buffer[i] + d
                d = nesterov ? d + mu * buffer[i] : buffer[i]
                reference[i] -= lr * d
            }
            #expect(close(p, reference), "step \(t + 1): \(p) against \(reference)")
        }
    }

    @Test func plainSGDIsGradientDescent() {
        var p = parameters
        var state = Optimizer.State(count: 4, for: .sgd())
        Optimizer.sgd().step(&p, gradients: gradients[0], state: &state, lr: 0.5)
        #expect(close(p, zip(parameters, gradients[0]).map { Double($0) - 0.5 * Double($1) }))
    }

    @Test func clippingScalesToTheGlobalNorm() {
        var g: [[Float]] = [[3, 0], [0, 4]]
        #expect(clipGradientNorm(&g, maxNorm: 10) == 5)
        #expect(g == [[3, 0], [0, 4]])  // under the limit: untouched
        #expect(clipGradientNorm(&g, maxNorm: 1) == 5)
        let norm = (g.flatMap { $0 }.map { Double($0) * Double($0) }.reduce(0, +)).squareRoot()
        #expect(abs(norm - 1 / (1 + 2e-7)) < 1e-6)
    }

    @Test func oneCycleRisesThenFallsAsFastAIs() {
        let schedule = LearningRateSchedule.oneCycle(maxLR: 1e-3)
        let (start, startMomentum) = schedule.values(step: 0, of: 100)
        #expect(abs(start - 1e-3 / 25) < 1e-15 && startMomentum == 0.95)
        let peak = schedule.values(step: 25, of: 100)
        #expect(abs(peak.lr - 1e-3) < 1e-15 && abs(peak.momentum! - 0.85) < 1e-12)
        // Halfway down the second phase: the mean of the peak and the end.
        let middle = schedule.values(step: 125, of: 200).lr, expected = (1e-3 + 1e-3 / 1e5) / 2
        #expect(abs(middle - expected) < 1e-15)
        let last = schedule.values(step: 99, of: 100).lr
        #expect(last > 1e-3 / 1e5 && last < 1e-5)
        let lrs = (0..<100).map { schedule.values(step: $0, of: 100).lr }
        #expect(zip(lrs, lrs.dropFirst()).prefix(25).allSatisfy { $0 < $1 } && zip(lrs, lrs.dropFirst()).dropFirst(25).allSatisfy { $0 > $1 })
    }

    @Test func cosineWarmsUpThenAnneals() {
        let schedule = LearningRateSchedule.cosine(maxLR: 0.1, minLR: 0.001, warmUpSteps: 4)
        #expect(zip((0..<4).map { schedule.values(step: $0, of: 20).lr }, [0.025, 0.05, 0.075, 0.1]).allSatisfy { abs($0 - $1) < 1e-15 })
        #expect(abs(schedule.values(step: 4, of: 20).lr - 0.1) < 1e-15)
        #expect(abs(schedule.values(step: 12, of: 20).lr - 0.0505) < 1e-12)
        #expect(schedule.values(step: 12, of: 20).momentum == nil)
    }
}
