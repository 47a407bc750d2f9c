/// Building layers from state_dict keys: one place for the key conventions of PyTorch
/// (`weight`, `bias`, batch-norm buffers) and fastai (`weight_g`/`weight_v`).
enum ParameterLoading {
    /// A convolution `name` (keys `name.weight`, optionally `name.bias`).
    static func conv(
        _ weights: WeightSource, _ name: String, input: Int, output: Int, kernel: Int, stride: Int = 1,
        padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool, activation: Activation = .identity
    ) throws -> Conv2d {
        let conv = Conv2d(
            inChannels: input, outChannels: output, kernel: kernel, stride: stride, padding: .uniform(padding),
            dilation: dilation, groups: groups, activation: activation)
        conv.weight = try weights.take(name + ".weight", shape: conv.weightShape)
        if bias { conv.bias = try weights.take(name + ".bias", shape: [output]) }
        return conv
    }

    /// A weight-normalised convolution (`torch.nn.utils.weight_norm`, dim 0):
    /// w = g · v / ‖v‖ per output channel, folded once here.
    static func weightNormConv(
        _ weights: WeightSource, _ name: String, input: Int, output: Int, kernel: Int,
        activation: Activation
    ) throws -> Conv2d {
        let conv = Conv2d(inChannels: input, outChannels: output, kernel: kernel, padding: .uniform(kernel / 2), activation: activation)
        let g = try weights.take(name + ".weight_g", shape: [output, 1, 1, 1])
        let v = try weights.take(name + ".weight_v", shape: conv.weightShape)
        let perOutput = v.count / output
        var weight = v
        for o in 0..<output {
            var norm: Double = 0
            for i in 0..<perOutput { norm += Double(v[o * perOutput + i]) * Double(v[o * perOutput + i]) }
            let scale = Double(g[o]) / norm.squareRoot()
            for i in 0..<perOutput { weight[o * perOutput + i] = Float(Double(v[o * perOutput + i]) * scale) }
        }
        conv.weight = weight
        conv.bias = try weights.take(name + ".bias", shape: [output])
        return conv
    }

    /// A batch norm `name` (weight, bias, running_mean, running_var).
    static func batchNorm(_ weights: WeightSource, _ name: String, channels: Int, eps: Float = 1e-5) throws -> BatchNorm {
        var norm = BatchNorm(channels: channels, eps: eps)
        norm.weight = try weights.take(name + ".weight", shape: [channels])
        norm.bias = try weights.take(name + ".bias", shape: [channels])
        norm.runningMean = try weights.take(name + ".running_mean", shape: [channels])
        norm.runningVar = try weights.take(name + ".running_var", shape: [channels])
        return norm
    }

    /// A convolution with the batch norm that follows it folded in.
    static func convBatchNorm(
        _ weights: WeightSource, conv name: String, norm: String, input: Int, output: Int, kernel: Int,
        stride: Int = 1, padding: Int = 0, dilation: Int = 1, groups: Int = 1, activation: Activation
    ) throws -> Conv2d {
        let conv = try self.conv(
            weights, name, input: input, output: output, kernel: kernel, stride: stride, padding: padding,
            dilation: dilation, groups: groups, bias: false, activation: activation)
        conv.fold(try batchNorm(weights, norm, channels: output))
        return conv
    }
}
