import Core
import EngineKernels
import EngineKernelsHaswell
import Foundation
import TestSupport
import Testing

@testable import Engine

/// Deterministic values in [-1, 1), for weights and inputs.
struct Values {
    var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func array(_ count: Int) -> [Float] { (0..<count).map { _ in generator.nextSigned() } }
}

/// max |a − b| / max |b|: the error relative to the output's magnitude.
func relativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var difference: Float = 0, magnitude: Float = 0
    for i in a.indices {
        difference = max(difference, abs(a[i] - b[i]))
        magnitude = max(magnitude, abs(b[i]))
    }
    return difference / max(magnitude, 1e-30)
}

@Suite struct ConvolutionTests {
    /// The definition, summed in Double.
    static func reference(_ conv: Conv2d, _ x: Tensor) -> [Float] {
        let kh = conv.kernel.height, kw = conv.kernel.width
        let outHeight = conv.outputSize(x.height, kernel: kh, before: conv.padding.top, after: conv.padding.bottom)
        let outWidth = conv.outputSize(x.width, kernel: kw, before: conv.padding.left, after: conv.padding.right)
        let cin = conv.inChannels / conv.groups, cout = conv.outChannels / conv.groups
        var out = [Float](repeating: 0, count: conv.outChannels * outHeight * outWidth)
        for o in 0..<conv.outChannels {
            let g = o / cout
            for oy in 0..<outHeight {
                for ox in 0..<outWidth {
                    var sum = Double(conv.bias[o])
                    for i in 0..<cin {
                        for ky in 0..<kh {
                            for kx in 0..<kw {
                                let y = oy * conv.stride - conv.padding.top + ky * conv.dilation
                                let xx = ox * conv.stride - conv.padding.left + kx * conv.dilation
                                guard y >= 0, y < x.height, xx >= 0, xx < x.width else { continue }
                                sum += Double(x[g * cin + i, y, xx]) * Double(conv.weight[((o * cin + i) * kh + ky) * kw + kx])
                            }
                        }
                    }
                    out[(o * outHeight + oy) * outWidth + ox] = Float(sum)
                }
            }
        }
        return out
    }

    @Test(arguments: [
        // (in, out, kernel, stride, padding (t, l, b, r), dilation, groups)
        (3, 8, 3, 1, [1, 1, 1, 1], 1, 1),
        (4, 6, 1, 1, [0, 0, 0, 0], 1, 1),
        (4, 6, 1, 2, [0, 0, 0, 0], 1, 1),
        (30, 29, 1, 1, [0, 0, 0, 0], 1, 1),  // packed 1×1: rows end inside a block
        (30, 29, 1, 2, [0, 0, 0, 0], 1, 1),
        (8, 8, 3, 2, [0, 0, 1, 1], 1, 8),  // TF-SAME depthwise, stride 2
        (6, 6, 5, 2, [2, 2, 2, 2], 1, 6),  // depthwise 5×5
        (6, 6, 5, 1, [1, 1, 2, 2], 1, 6),
        (8, 12, 3, 1, [2, 2, 2, 2], 2, 4),  // dilated grouped (ASPP)
        (16, 16, 3, 2, [1, 1, 1, 1], 1, 8),  // grouped, ResNeXt-like
        (5, 7, 7, 2, [3, 3, 3, 3], 1, 1),  // stem
        (4, 4, 3, 1, [4, 4, 4, 4], 4, 1),
        (48, 20, 3, 1, [1, 1, 1, 1], 1, 1),  // Winograd F(2×2, 3×3)
        (64, 16, 3, 1, [1, 2, 1, 0], 1, 1),  // Winograd, uneven padding
        (48, 17, 3, 1, [2, 2, 2, 2], 1, 1),  // Winograd, output larger than input
    ])
    func matchesTheDefinition(config: (Int, Int, Int, Int, [Int], Int, Int)) {
        let (cin, cout, k, stride, pad, dilation, groups) = config
        let conv = Conv2d(
            inChannels: cin, outChannels: cout, kernel: k, stride: stride,
            padding: .init(top: pad[0], left: pad[1], bottom: pad[2], right: pad[3]), dilation: dilation, groups: groups)
        var values = Values(seed: UInt64(cin * 1000 + cout * 10 + k))
        conv.weight = values.array(conv.weight.count)
        conv.bias = values.array(cout)
        for (h, w) in [(9, 11), (16, 16), (1, 1), (2, 3)] {
            let x = Tensor(channels: cin, height: h, width: w, data: values.array(cin * h * w))
            let y = conv(x)
            #expect(relativeError(y.data, Self.reference(conv, x)) < 2e-6, "\(config) on \(h)×\(w)")
        }
    }

    /// Strided depthwise convolutions on maps wide enough for the vector de-interleaving,
    /// with each padding parity.
    @Test(arguments: [[0, 0, 1, 1], [1, 1, 1, 1], [2, 2, 2, 2], [1, 2, 2, 1]])
    func stridedDepthwiseOnWideMaps(pad: [Int]) {
        let conv = Conv2d(
            inChannels: 5, outChannels: 5, kernel: pad[0] == 2 ? 5 : 3, stride: 2,
            padding: .init(top: pad[0], left: pad[1], bottom: pad[2], right: pad[3]), groups: 5)
        var values = Values(seed: 77)
        conv.weight = values.array(conv.weight.count)
        conv.bias = values.array(5)
        for (h, w) in [(70, 67), (33, 64), (17, 35)] {
            let x = Tensor(channels: 5, height: h, width: w, data: values.array(5 * h * w))
            #expect(relativeError(conv(x).data, Self.reference(conv, x)) < 2e-6, "\(pad) on \(h)×\(w)")
        }
    }

    @Test func batchNormFoldsExactlyEnough() {
        let conv = Conv2d(inChannels: 3, outChannels: 4, kernel: 3, padding: .uniform(1))
        var values = Values(seed: 3)
        conv.weight = values.array(conv.weight.count)
        var norm = BatchNorm(channels: 4, eps: 1e-3)
        norm.weight = values.array(4); norm.bias = values.array(4)
        norm.runningMean = values.array(4); norm.runningVar = values.array(4).map { abs($0) + 0.1 }
        let x = Tensor(channels: 3, height: 8, width: 8, data: values.array(192))
        let separate = norm(conv(x), activation: .swish)
        conv.fold(norm)
        conv.activation = .swish
        #expect(relativeError(conv(x).data, separate.data) < 1e-6)
    }
}

@Suite struct SafeTensorsTests {
    @Test func roundTripsAndChecksShapes() throws {
        let path = NSTemporaryDirectory() + "st-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write([("a.weight", [2, 3], [1, 2, 3, 4, 5, 6]), ("b", [1], [-0.5])], to: path)
        let file = try SafeTensors(path: path)
        #expect(file.names == ["a.weight", "b"])
        #expect(file.entries["a.weight"]?.shape == [2, 3])
        #expect(try file.floats("a.weight") == [1, 2, 3, 4, 5, 6])
        #expect(try file.floats("b") == [-0.5])
        #expect(throws: Error.self) { try file.floats("c") }
    }

    @Test(arguments: [
        ("", "too short", TesseraError.Code.malformed),
        ("\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{ff}\u{7f}{}", "does not fit", .malformed),
        ("\u{02}\0\0\0\0\0\0\0[]", "not a JSON object", .malformed),
        ("\u{30}\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "outside", .malformed),
        ("\u{30}\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"X64\",\"shape\":[1],\"data_offsets\":[0,8]}}12345678", "unsupported dtype", .unsupported),
        ("\u{30}\0\0\0\0\0\0\0{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}12345678", "needs 12 bytes", .malformed),
    ])
    func malformedFilesAreRefused(text: String, reason: String, code: TesseraError.Code) {
        var bytes = Data(text.utf8.map { $0 })
        if text.hasPrefix("\u{ff}") { bytes = Data([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]) + Data("{}".utf8) }
        // The header length byte counts the JSON that follows.
        if text.hasPrefix("\u{30}") {
            let json = Data(text.dropFirst(8).utf8)
            let end = json.firstIndex(of: UInt8(ascii: "}"))! + 2
            bytes = Data([UInt8(end - json.startIndex), 0, 0, 0, 0, 0, 0, 0]) + json
        }
        #expect { try SafeTensors(data: bytes) } throws: { ($0 as? TesseraError).map { $0.code == code && $0.reason.contains(reason) } == true }
    }

    /// A residual added in the GEMM's epilogue (or after, on the other paths) gives exactly
    /// what the separate passes give: conv, + residual, activation.
    @Test func residualIsAddedAsSeparatePassesWould() {
        KernelBuildLock.holdingTheBuild { residualIsAddedAsSeparatePassesWouldWithTheBuildHeld() }
    }

    private func residualIsAddedAsSeparatePassesWouldWithTheBuildHeld() {
        var values = Values(seed: 11)
        let layers = [
            Conv2d(inChannels: 24, outChannels: 40, kernel: 1),  // GEMM on the input
            Conv2d(inChannels: 24, outChannels: 40, kernel: 1, stride: 2),  // subsampled, GEMM
            Conv2d(inChannels: 24, outChannels: 40, kernel: 3, stride: 2, padding: .uniform(1)),  // im2col + GEMM
            Conv2d(inChannels: 40, outChannels: 40, kernel: 3, padding: .uniform(1)),
        ]  // Winograd
        for conv in layers {
            conv.weight = values.array(conv.weight.count)
            conv.bias = values.array(conv.outChannels)
            let x = Tensor(channels: conv.inChannels, height: 21, width: 19, data: values.array(conv.inChannels * 21 * 19))
            var expected = conv(x)
            let residual = Tensor(
                channels: expected.channels, height: expected.height, width: expected.width,
                data: values.array(expected.data.count))
            expected += residual
            Activation.relu.apply(&expected)
            let fused = conv(x, adding: residual, then: .relu)
            let label = conv.label(height: fused.height, width: fused.width)
            let same = fused.data == expected.data
            #expect(same, "\(label): \(relativeError(fused.data, expected.data))")
            let scale = values.array(conv.inChannels).map { $0 + 1.5 }
            var gated = conv(x, inputScale: scale)
            gated += residual
            let gatedSame = conv(x, inputScale: scale, adding: residual, then: .identity).data == gated.data
            #expect(gatedSame, "\(label), gated")
        }
    }

    /// The layers Winograd serves must take that path, and agree with im2col + GEMM.
    @Test func winogradAgreesWithTheDirectPath() {
        let conv = Conv2d(inChannels: 96, outChannels: 32, kernel: 3, padding: .uniform(1), activation: .relu)
        var values = Values(seed: 3)
        conv.weight = values.array(conv.weight.count)
        conv.bias = values.array(32)
        #expect(conv.usesWinograd)
        // F(2×2, 3×3) below 64 pixels a side, F(4×4, 3×3) from there; ragged edges both ways.
        for (h, w) in [(40, 37), (8, 8), (3, 130), (70, 67), (64, 130)] {
            let x = Tensor(channels: 96, height: h, width: w, data: values.array(96 * h * w))
            let fast = conv(x)
            conv.allowsWinograd = false
            defer { conv.allowsWinograd = true }
            let direct = conv(x)
            let error = relativeError(fast.data, direct.data)
            let tile = Conv2d.winogradTile(height: h, width: w)
            print("Winograd \(tile) vs im2col, 96→32 on \(h)×\(w): max|Δ|/max|y| = \(error)")
            #expect(error < (tile == .f4 ? 2e-5 : 2e-6))
        }
    }
}

/// `Kernels.pad`, which every direct and Winograd convolution reads through: each stride's
/// phase split, whole vectors and the value-by-value ends, in both kernel builds.
@Suite struct PaddingTests {
    @Test(arguments: [1, 2, 3, 4]) func padSplitsColumnsByPhase(stride s: Int) {
        var values = Values(seed: UInt64(40 + s))
        for width in [1, 3, 8, 37, 70, 133] {
            // Padded rows longer than the input's, and shorter ones that leave columns out.
            for (left, long) in [0, 1, 2, 5].flatMap({ left in [(left, true), (left, false)] }) {
                let height = 3, top = 1, rows = height + 3
                let phaseLength = long ? (width + 2 * left + s - 1) / s + 9 : max(1, (width + left) / (2 * s))
                let channel = values.array(height * width)
                var expected = [Float](repeating: 0, count: rows * s * phaseLength)
                for r in 0..<rows {
                    for j in 0..<(s * phaseLength) {
                        let y = r - top, x = j - left
                        guard y >= 0 && y < height && x >= 0 && x < width else { continue }
                        expected[r * s * phaseLength + (j % s) * phaseLength + j / s] = channel[y * width + x]
                    }
                }
                for build in ["baseline", "AVX2"] where build == "baseline" || KernelSet.cpuHasAVX2AndFMA {
                    // Garbage first: every padded value must be written.
                    var padded = [Float](repeating: .nan, count: expected.count)
                    channel.withUnsafeBufferPointer { source in
                        padded.withUnsafeMutableBufferPointer { target in
                            if build == "baseline" {
                                EngineKernels.Kernels.pad(
                                    source.baseAddress!, height: height, width: width, top: top, left: left,
                                    stride: s, phaseLength: phaseLength, rows: rows, into: target.baseAddress!)
                            } else {
                                EngineKernelsHaswell.Kernels.pad(
                                    source.baseAddress!, height: height, width: width, top: top,
                                    left: left, stride: s, phaseLength: phaseLength, rows: rows,
                                    into: target.baseAddress!)
                            }
                        }
                    }
                    let wrong = padded.indices.first { padded[$0] != expected[$0] }
                    let setting = "\(build), stride \(s), width \(width), left \(left), phase length \(phaseLength)"
                    #expect(wrong == nil, "\(setting): first wrong value at \(wrong ?? 0)")
                }
            }
        }
    }
}
