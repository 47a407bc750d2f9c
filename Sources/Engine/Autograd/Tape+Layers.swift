import Core
import Foundation

/// The layers with parameters, on the tape: their values come from the store by PyTorch key
/// and their gradients go back into it.
extension Tape {
    /// `nn.Conv2d` with weight `name.weight` and, if `bias`, `name.bias`.
    public func conv(_ x: Variable, _ name: String, shape: ConvolutionShape, bias: Bool = false) -> Variable {
        let xHandle = x.handle
        let weight = parameter(name + ".weight")
        let y = ConvolutionTraining.forward(x.value, weight: weight, bias: bias ? parameter(name + ".bias") : nil, shape: shape)
        let inputs = x.value
        return record(y) { [unowned self] dy in
            let (dx, dw, db) = ConvolutionTraining.backward(dy, inputs: inputs, weight: weight, shape: shape, inputGradient: xHandle.needsGradient)
            addGradient(name + ".weight", dw)
            if bias { addGradient(name + ".bias", db) }
            accumulate(xHandle, dx)
        }
    }

    /// A weight-normalised `nn.Conv2d` (fast.ai's PixelShuffle_ICNR): the weight is
    /// `name.weight_g` · `name.weight_v` / ‖`name.weight_v`‖ per output channel, with a bias.
    public func weightNormConv(_ x: Variable, _ name: String, shape: ConvolutionShape) -> Variable {
        let xHandle = x.handle
        let g = parameter(name + ".weight_g"), v = parameter(name + ".weight_v")
        let weight = WeightNorm.weight(g: g, v: v)
        let y = ConvolutionTraining.forward(x.value, weight: weight, bias: parameter(name + ".bias"), shape: shape)
        let inputs = x.value
        return record(y) { [unowned self] dy in
            let (dx, dw, db) = ConvolutionTraining.backward(dy, inputs: inputs, weight: weight, shape: shape, inputGradient: xHandle.needsGradient)
            let (dg, dv) = WeightNorm.backward(dw, g: g, v: v)
            addGradient(name + ".weight_g", dg)
            addGradient(name + ".weight_v", dv)
            addGradient(name + ".bias", db)
            accumulate(xHandle, dx)
        }
    }

    /// `nn.BatchNorm2d` with keys `name.weight`, `.bias`, `.running_mean`, `.running_var`:
    /// batch statistics (and the running ones updated) or frozen, as the tape says.
    public func batchNorm(_ x: Variable, _ name: String, eps: Float, momentum: Double) -> Variable {
        let xHandle = x.handle
        var layer = BatchNorm(channels: x.value[0].channels, eps: eps)
        layer.weight = parameter(name + ".weight")
        layer.bias = parameter(name + ".bias")
        layer.runningMean = parameter(name + ".running_mean")
        layer.runningVar = parameter(name + ".running_var")
        let outputs: [Tensor], saved: BatchNormTraining.Saved
        let backward: ([Tensor], BatchNormTraining.Saved, [Float]) -> (inputs: [Tensor], weight: [Float], bias: [Float])
        switch normalisation {
        case .batch(let override):
            if let replicas = synchronisedStatistics {
                (outputs, saved) = BatchNormTraining.forward(x.value, layer: &layer, momentum: override ?? momentum, replicas: replicas)
                backward = { BatchNormTraining.backward($0, saved: $1, weight: $2, replicas: replicas) }
            } else {
                (outputs, saved) = BatchNormTraining.forward(x.value, layer: &layer, momentum: override ?? momentum)
                backward = { BatchNormTraining.backward($0, saved: $1, weight: $2) }
            }
            setBuffer(name + ".running_mean", layer.runningMean)
            setBuffer(name + ".running_var", layer.runningVar)
        case .frozen:
            (outputs, saved) = BatchNormTraining.frozenForward(x.value, layer: layer)
            backward = { BatchNormTraining.frozenBackward($0, saved: $1, weight: $2) }
        }
        let weight = layer.weight
        return record(outputs) { [unowned self] dy in
            let (dx, dw, db) = backward(dy, saved, weight)
            addGradient(name + ".weight", dw)
            addGradient(name + ".bias", db)
            accumulate(xHandle, dx)
        }
    }
}
