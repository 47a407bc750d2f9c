import Core
import Foundation
import Shared

/// Training runs on disk: each run's record is written whenever it changes, and a
/// coordinator started on the same state folder takes the unfinished ones back.
extension CoordinatorServer {
    func persist(_ job: TrainingJob) {
        do { try job.save() } catch { log.error("training run \(job.id): cannot record its state: \(error)", ["run": "\(job.id)"]) }
    }

    /// Takes back the training runs a previous coordinator on this state directory left:
    /// unfinished ones go on from their last checkpoint.
    func restoreTraining() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: config.stateDirectory) else { return }
        for name in names.sorted() where name.hasPrefix("train-") {
            let directory = config.stateDirectory + "/" + name
            let path = directory + "/job.json"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do {
                var record = try TrainingJob.load(path)
                guard directory == config.stateDirectory + "/train-\(record.id)" else { throw TesseraError(path, "holds run \(record.id)", code: .mismatch) }
                guard let member = memberNames.firstIndex(of: record.member), let plan = TrainingPlan(json: record.settings),
                    (0...plan.steps).contains(record.step)
                else {
                    throw TesseraError(path, "its member \(record.member) is not in this cluster, or its settings or step are malformed", code: .malformed)
                }
                nextJobID = max(nextJobID, record.id + 1)
                let unfinished = record.state == .running || record.state == .queued
                if unfinished { record.state = .queued }
                let job = TrainingJob(id: record.id, directory: directory, member: member, plan: plan, record: record, client: [])
                if unfinished && record.step > 0 && !FileManager.default.fileExists(atPath: job.weightsPath) {
                    job.end(.failed, note: "its checkpoint at step \(record.step) is gone from \(directory)")
                }
                if job.state == .finished || job.state == .failed { job.ended = record.ended.map { Date(timeIntervalSince1970: $0) } ?? Date() }
                trainingJobs.append(job)
                if unfinished {
                    persist(job)
                    log.info("took back training run \(record.id): it goes on from step \(record.step)")
                }
            } catch {
                log.warning("ignored \(path): \(error)")
            }
        }
    }
}
