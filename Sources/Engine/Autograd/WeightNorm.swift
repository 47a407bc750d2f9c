import Foundation

/// Weight normalisation (`torch.nn.utils.weight_norm`, dim 0), as fast.ai's
/// PixelShuffle_ICNR keeps its convolution: w = g · v / ‖v‖ per output channel, the norm
/// over everything else. Checkpoints hold `weight_g` ([out, 1, 1, 1]) and `weight_v`.
public enum WeightNorm {
    /// The weight from `g` (one per output channel) and `v` ([out, …]).
    public static func weight(g: [Float], v: [Float]) -> [Float] {
        let size = v.count / g.count
        var w = [Float](repeating: 0, count: v.count)
        for o in g.indices {
            let slice = (o * size)..<((o + 1) * size)
            let norm = v[slice].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let scale = Float(Double(g[o]) / norm)
            for i in slice { w[i] = v[i] * scale }
        }
        return w
    }

    /// The gradients of g and v from the weight's: dg = Σ dw·v/‖v‖ and
    /// dv = (g/‖v‖)·(dw − (dg/‖v‖)·v).
    public static func backward(_ dWeight: [Float], g: [Float], v: [Float]) -> (g: [Float], v: [Float]) {
        let size = v.count / g.count
        var dg = [Float](repeating: 0, count: g.count), dv = [Float](repeating: 0, count: v.count)
        for o in g.indices {
            let slice = (o * size)..<((o + 1) * size)
            let norm = v[slice].reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let dot = slice.reduce(0.0) { $0 + Double(dWeight[$1]) * Double(v[$1]) }
            let gradientG = dot / norm
            dg[o] = Float(gradientG)
            let scale = Double(g[o]) / norm
            for i in slice { dv[i] = Float(scale * (Double(dWeight[i]) - gradientG / norm * Double(v[i]))) }
        }
        return (dg, dv)
    }
}
