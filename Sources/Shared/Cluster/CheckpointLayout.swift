/// Where a cluster training run keeps its checkpoints in its run folder (docs/TRAINING.md,
/// "Checkpoints"): each in a folder of its own, named by its step, holding the two state
/// files and the model. `job.json`'s `step` names the one to resume from and is written
/// after that folder is whole, so a coordinator killed at any moment finds the checkpoint
/// its record names, whole; a folder is removed only once the record names a newer one.
/// (One folder overwritten in place would let a coordinator killed mid-write resume the
/// step its record names from a later step's weights.)
public enum CheckpointLayout {
    /// The folder of the checkpoint after `step` steps, relative to the run folder.
    public static func folder(step: Int) -> String { "checkpoint-\(step)" }

    /// Whether `name` (an entry of the run folder) is a checkpoint folder, and of which step.
    public static func step(ofFolder name: String) -> Int? {
        guard name.hasPrefix("checkpoint-") else { return nil }
        return Int(name.dropFirst("checkpoint-".count))
    }

    public static let weights = "weights.safetensors"
    public static let optimizer = "optimizer.safetensors"
    public static let model = "model.safetensors"
}
