/// A slide job's state, as its job.json, progress messages and `tessera status` name it.
public enum SlideJobState: String, Codable, Sendable, CaseIterable {
    /// The coordinator is fetching the slide's bytes from the client.
    case uploading
    case queued
    case running
    /// Every tile is in; the mask and RLE are being written.
    case finalizing
    case finished
    case failed

    /// Finished or failed: nothing more happens to the job.
    public var isEnded: Bool { self == .finished || self == .failed }
}

/// A training run's state, as its job.json names it.
public enum TrainingRunState: String, Codable, Sendable, CaseIterable {
    case queued, running, finished, failed
}

/// What a training run's progress says it is doing: its state, and while it runs, whether
/// it waits for workers of its member or saves a checkpoint.
public enum TrainingProgressState: String, Codable, Sendable, CaseIterable {
    case queued, waiting, running, saving, finished, failed
}
