/// EfficientNet b0…b7 as efficientnet_pytorch 0.7.1 builds them: the scaling coefficients,
/// the default image size its static "SAME" padding is computed for, and the block table.
public struct EfficientNetVariant: Sendable, Hashable {
    public let name: String
    public let width: Double
    public let depth: Double
    /// The image size of `EfficientNet.from_name`: static padding is computed for it, even
    /// when tiles are another size.
    public let imageSize: Int

    public static let all: [EfficientNetVariant] = [
        .init(name: "b0", width: 1.0, depth: 1.0, imageSize: 224),
        .init(name: "b1", width: 1.0, depth: 1.1, imageSize: 240),
        .init(name: "b2", width: 1.1, depth: 1.2, imageSize: 260),
        .init(name: "b3", width: 1.2, depth: 1.4, imageSize: 300),
        .init(name: "b4", width: 1.4, depth: 1.8, imageSize: 380),
        .init(name: "b5", width: 1.6, depth: 2.2, imageSize: 456),
        .init(name: "b6", width: 1.8, depth: 2.6, imageSize: 528),
        .init(name: "b7", width: 2.0, depth: 3.1, imageSize: 600),
    ]

    public static func named(_ name: String) -> EfficientNetVariant? { all.first { $0.name == name } }

    /// One stage of the block table: repeats, kernel, stride, expansion, in and out filters.
    struct Stage { let repeats: Int, kernel: Int, stride: Int, expand: Int, input: Int, output: Int }

    /// 'r1_k3_s11_e1_i32_o16_se0.25', … (every stage has squeeze-excitation 0.25).
    static let stages: [Stage] = [
        .init(repeats: 1, kernel: 3, stride: 1, expand: 1, input: 32, output: 16),
        .init(repeats: 2, kernel: 3, stride: 2, expand: 6, input: 16, output: 24),
        .init(repeats: 2, kernel: 5, stride: 2, expand: 6, input: 24, output: 40),
        .init(repeats: 3, kernel: 3, stride: 2, expand: 6, input: 40, output: 80),
        .init(repeats: 3, kernel: 5, stride: 1, expand: 6, input: 80, output: 112),
        .init(repeats: 4, kernel: 5, stride: 2, expand: 6, input: 112, output: 192),
        .init(repeats: 1, kernel: 3, stride: 1, expand: 6, input: 192, output: 320),
    ]

    /// efficientnet_pytorch's `round_filters` (depth divisor 8).
    func filters(_ filters: Int) -> Int {
        let scaled = Double(filters) * width
        var rounded = max(8, Int(scaled + 4) / 8 * 8)
        if Double(rounded) < 0.9 * scaled { rounded += 8 }
        return rounded
    }

    /// efficientnet_pytorch's `round_repeats`.
    func repeats(_ repeats: Int) -> Int { Int((depth * Double(repeats)).rounded(.up)) }

    /// Channels of the encoder features the U-Net uses: stem (/2), ends of /4, /8, /16, /32.
    public var featureChannels: [Int] { [filters(32), filters(24), filters(40), filters(112), filters(320)] }
}
