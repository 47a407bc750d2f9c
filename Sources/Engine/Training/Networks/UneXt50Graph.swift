import Core

/// UneXt50 for training: the ResNeXt50 encoder (see `ResNeXtEncoder`) with its batch norms
/// in training mode, and the shared decoder with ASPP output 512.
struct UneXt50Graph: TrainingNetwork {
    var alignment: Int { 32 }

    func logits(_ images: Variable, on tape: Tape) -> Variable {
        let enc0 = UNetDecoderGraph.convNormReLU(
            images, conv: "enc0.0", norm: "enc0.1",
            shape: ConvolutionShape(inputChannels: 3, outputChannels: 64, kernel: 7, stride: 2, padding: 3), on: tape)
        var features = [enc0]
        var y = tape.maxPool(enc0, kernel: 3, stride: 2, padding: 1)
        var input = 64
        for (index, (planes, blocks)) in [(64, 3), (128, 4), (256, 6), (512, 3)].enumerated() {
            let prefix = index == 0 ? "enc1.1." : "enc\(index + 1)."
            for block in 0..<blocks {
                y = bottleneck(
                    y, prefix: prefix + "\(block).", input: input, planes: planes, stride: block == 0 && index > 0 ? 2 : 1,
                    downsample: block == 0, on: tape)
                input = planes * 4
            }
            features.append(y)
        }
        return UNetDecoderGraph(asppOutput: 512)(features, on: tape)
    }

    private func bottleneck(_ x: Variable, prefix: String, input: Int, planes: Int, stride: Int, downsample: Bool, on tape: Tape) -> Variable {
        let width = planes * 4 / 64 * 32
        var out = UNetDecoderGraph.convNormReLU(
            x, conv: prefix + "conv1", norm: prefix + "bn1",
            shape: ConvolutionShape(inputChannels: input, outputChannels: width, kernel: 1), on: tape)
        out = UNetDecoderGraph.convNormReLU(
            out, conv: prefix + "conv2", norm: prefix + "bn2",
            shape: ConvolutionShape(
                inputChannels: width, outputChannels: width, kernel: 3, stride: stride,
                groups: 32, padding: 1), on: tape)
        out = tape.batchNorm(
            tape.conv(out, prefix + "conv3", shape: ConvolutionShape(inputChannels: width, outputChannels: planes * 4, kernel: 1)),
            prefix + "bn3", eps: 1e-5, momentum: 0.1)
        let identity =
            downsample
            ? tape.batchNorm(
                tape.conv(
                    x, prefix + "downsample.0",
                    shape: ConvolutionShape(
                        inputChannels: input, outputChannels: planes * 4,
                        kernel: 1, stride: stride)),
                prefix + "downsample.1", eps: 1e-5, momentum: 0.1)
            : x
        return tape.activation(tape.add(out, identity), .relu)
    }
}
