import ArgumentParser
import Core
import Engine
import Foundation

/// `tessera gradients`: one training-mode forward and backward pass over a batch given as
/// NumPy arrays, for comparison with PyTorch autograd (tools/make_model_gradient_goldens.py).
struct GradientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gradients",
        abstract: "Compute a model's gradients on one batch (and optionally one AdamW step).",
        discussion: """
            Runs one forward and backward pass in training mode — batch statistics, dropout and \
            drop-connect off — on a float32 NCHW batch that is already normalised and a 0/1 mask \
            batch (N×H×W or N×1×H×W), prints the default loss (mean BCE over all pixels plus soft \
            Dice per image), and writes every parameter's gradient under its PyTorch state_dict \
            key. With --step adamw it also applies one AdamW step (betas 0.9/0.999, eps 1e-8, \
            weight decay 0.01 on every parameter, as torch.optim.AdamW) and writes the updated \
            weights and batch-norm running statistics to --updated.
            """
    )

    @Option(help: "The architecture.") var model: Architecture
    @Option(help: "The weights (.safetensors with PyTorch keys).") var weights: String
    @Option(help: "The images: float32 .npy of shape N×3×H×W, normalised.") var images: String
    @Option(help: "The masks: .npy of shape N×H×W or N×1×H×W, values 0 or 1.") var masks: String
    @Option(help: "Where to write the gradients (.safetensors).") var out: String
    @Option(help: "An optimiser step to apply after the backward pass: adamw.") var step: String?
    @Option(help: "The learning rate of --step.") var lr: Double = 1e-3
    @Option(help: "Where to write the weights and running statistics after --step.") var updated: String?
    @Flag(help: "Batch norms use their running statistics (frozen) instead of the batch's.") var frozenNorms = false
    @Option(help: "Engine threads.") var threads: Int = 2

    func validate() throws {
        if let step, step != "adamw" { throw ValidationError("--step takes adamw, not \(step)") }
        if step != nil && updated == nil { throw ValidationError("--step needs --updated to write the weights to") }
        if updated != nil && step == nil { throw ValidationError("--updated needs --step") }
        guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be positive") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        CNNModel.setThreads(threads)
        let store = ParameterStore(architecture: model)
        try store.load(from: try SafeTensorsWeights(path: weights), ignoring: model.unusedKeys)
        let (batch, targets) = try Self.readBatch(images: images, masks: masks)
        let trainer = ModelTrainer(model, store: store)
        let (loss, _) = try trainer.gradients(images: batch, masks: targets, normalisation: frozenNorms ? .frozen : .batch())
        print(String(format: "loss %.9f", loss))
        let parameters = store.entries.filter(\.isParameter)
        try SafeTensors.write(parameters.map { ($0.key, $0.shape, Array(store.gradients[$0.range])) }, to: out)
        print("\(out): gradients of \(parameters.count) parameters")
        if let updated {
            trainer.step(lr: lr)
            try store.write(to: updated)
            print("\(updated): weights and running statistics after one AdamW step at lr \(lr)")
        }
    }

    /// A batch of images and masks from .npy files, checked against each other.
    static func readBatch(images: String, masks: String) throws -> ([Tensor], [[Float]]) {
        let x = try NPYFile.read(images), y = try NPYFile.read(masks)
        guard x.shape.count == 4, x.shape[1] == 3 else { throw TesseraError(images, "images must be N×3×H×W, not \(x.shape)") }
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        guard y.shape == [n, h, w] || y.shape == [n, 1, h, w] else {
            throw TesseraError(masks, "masks of shape \(y.shape) do not match images of shape \(x.shape) (need \([n, h, w]))", code: .mismatch)
        }
        if let bad = y.values.firstIndex(where: { $0 != 0 && $0 != 1 }) { throw TesseraError(masks, "mask value \(y.values[bad]) at \(bad) is not 0 or 1") }
        if let bad = x.values.firstIndex(where: { !$0.isFinite }) { throw TesseraError(images, "image value \(x.values[bad]) at \(bad)") }
        let plane = h * w
        let batch = (0..<n).map { b in Tensor(channels: 3, height: h, width: w, data: Array(x.values[(b * 3 * plane)..<((b + 1) * 3 * plane)])) }
        let targets = (0..<n).map { b in Array(y.values[(b * plane)..<((b + 1) * plane)]) }
        return (batch, targets)
    }
}
