import Core
import Foundation

/// The random zeroing of training, seeded so a run is reproducible: each returns the
/// factor every value of a channel (Dropout2d) or of an image (drop-connect) is multiplied
/// by, which the backward pass multiplies the gradient by too.
public enum Dropout {
    /// `nn.Dropout2d(p)`: each channel of each image zeroed with probability p, the others
    /// scaled by 1/(1 − p). Factors indexed [image · channels + channel].
    public static func channelFactors(images: Int, channels: Int, probability p: Double, random: inout SplitMix64) -> [Float] {
        guard p > 0 else { return [Float](repeating: 1, count: images * channels) }
        let keep = Float(1 / (1 - p))
        return (0..<(images * channels)).map { _ in unit(&random) < p ? 0 : keep }
    }

    /// efficientnet_pytorch's `drop_connect(p)`: each image's residual branch kept with
    /// probability 1 − p (⌊(1 − p) + u⌋ with u uniform in [0, 1)) and divided by 1 − p.
    public static func imageFactors(images: Int, probability p: Double, random: inout SplitMix64) -> [Float] {
        guard p > 0 else { return [Float](repeating: 1, count: images) }
        let keep = 1 - p
        return (0..<images).map { _ in (keep + unit(&random)).rounded(.down) == 1 ? Float(1 / keep) : 0 }
    }

    /// A uniform double in [0, 1) from 53 random bits.
    static func unit(_ random: inout SplitMix64) -> Double { Double(random.next() >> 11) / Double(1 << 53) }
}
