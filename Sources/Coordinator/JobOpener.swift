import Core
import Foundation
import Segmentation
import Tiling

/// Opens slide jobs on a thread of its own: a slide's reader, its tissue map (unless tiles
/// are judged as they are read) and its stains can take seconds on a large flat TIFF, and
/// the coordinator's socket thread — its heartbeats above all — must not wait on them. One
/// job opens at a time; the socket thread collects the outcome with `finished` and starts
/// the job.
final class JobOpener: @unchecked Sendable {
    struct Opened {
        let pipeline: SlidePipeline
        let settings: SegmentationSettings
    }

    private let queue = DispatchQueue(label: "tessera.job-opener")
    private let lock = NSLock()
    private var outcomes: [(job: UInt64, outcome: Result<Opened, Error>)] = []
    /// The job being opened (socket thread only).
    private(set) var opening: UInt64?

    func open(_ job: SlideJob, settings: SegmentationSettings, memberWeights: [Int], memberPixelSizes: [Double?]) {
        opening = job.id
        let box = UncheckedBox(job)
        queue.async { [self] in
            let outcome = Result {
                let opened = try box.value.openPipeline(settings: settings, memberWeights: memberWeights, memberPixelSizes: memberPixelSizes)
                return Opened(pipeline: opened.pipeline, settings: opened.settings)
            }
            lock.withLock { outcomes.append((box.value.id, outcome)) }
        }
    }

    /// The jobs opened (or that could not be) since the last call.
    func finished() -> [(job: UInt64, outcome: Result<Opened, Error>)] {
        let taken = lock.withLock { () -> [(job: UInt64, outcome: Result<Opened, Error>)] in
            defer { outcomes.removeAll() }
            return outcomes
        }
        if taken.contains(where: { $0.job == opening }) { opening = nil }
        return taken
    }
}
