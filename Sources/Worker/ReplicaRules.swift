/// How a worker's replica meets the coordinator's training commands (docs/TRAINING.md,
/// "Faults"): the rules `TrainingHost` follows on its training thread and the simulator
/// (`Simulation`) runs on its simulated workers. A replica has applied `applied` steps, the
/// first `committed` of them committed by the whole ring.
package enum ReplicaRules {
    /// What a replica does before it runs a step.
    package enum Preparation: Equatable {
        /// The ring redoes the step it applied last without committing it: back to the committed state.
        case rollBack
        /// The step it applied last was committed: its state is the one to roll back to from now on.
        case commit
    }

    /// How a replica starts step `step`, or nil when it does not hold the state before it.
    package static func start(step: Int, applied: Int, committed: Int) -> Preparation? {
        if applied == step + 1 && committed == step { return .rollBack }
        if applied == step { return .commit }
        return nil
    }

    /// Whether a replica asked for its committed state after `step` steps first commits the
    /// step it applied (the coordinator asks only for committed steps), or nil when it does
    /// not hold that state.
    package static func save(step: Int, applied: Int, committed: Int) -> Bool? {
        if applied == step { return true }
        return committed == step ? false : nil
    }

    /// What the coordinator last said it wants of this worker: the run, the newest epoch it
    /// started, and the session's generation (each join and each abandon starts a new one).
    package struct Wanted: Equatable, Sendable {
        package var run: UInt64?
        package var epoch: Int
        package var generation: Int
        package init(run: UInt64? = nil, epoch: Int = 0, generation: Int = 0) {
            self.run = run; self.epoch = epoch; self.generation = generation
        }

        /// Takes a command as the I/O thread hands it over.
        package mutating func take(_ command: WorkerLink.TrainingCommand) {
            switch command {
            case .join(let join): self = Wanted(run: join.run, epoch: 0, generation: generation + 1)
            case .step(let step) where step.run == run: epoch = max(epoch, step.epoch)
            case .save(let save) where save.run == run: epoch = max(epoch, save.epoch ?? 0)
            case .stop(let stop) where stop.run == run: run = nil
            case .abandon: self = Wanted(run: nil, epoch: 0, generation: generation + 1)
            default: break
            }
        }

        /// Whether work of run `run`, session `generation` and epoch `epoch` (nil: not a
        /// step) is still wanted: an all-reduce waiting on a peer gives up as soon as it is not.
        package func wants(run: UInt64, generation: Int, epoch: Int?) -> Bool {
            self.run == run && self.generation == generation && (epoch.map { $0 >= self.epoch } ?? true)
        }
    }
}
