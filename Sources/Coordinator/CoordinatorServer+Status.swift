import Core
import Foundation
import Segmentation
import Shared
import ZeroMQ

/// What `status` and the metrics socket report.
extension CoordinatorServer {
    func status() -> Wire.Status {
        let now = Date()
        let workers = registry.workers.values.sorted { $0.name < $1.name }.map { worker in
            Wire.Status.Worker(name: worker.name, member: memberNames[worker.member],
                               state: worker.training.map { "training (run \($0))" } ?? (worker.inFlight.isEmpty ? "idle" : "busy"),
                               tilesPerSecond: Double(worker.tilesDone) / max(1, now.timeIntervalSince(worker.joined)),
                               inFlight: worker.inFlight.count, tilesDone: worker.tilesDone,
                               kernels: worker.kernels.isEmpty ? nil : worker.kernels)
        }
        let slides = self.jobs.map { Wire.Status.Job(job: $0.id, name: $0.name, state: $0.state.rawValue, tilesDone: $0.tilesDone, tilesTotal: $0.tilesTotal, note: $0.note) }
        let runs = trainingJobs.map { job in
            let progress = job.progress
            return Wire.Status.Job(job: job.id, name: job.record.name, state: progress.state, tilesDone: progress.step, tilesTotal: job.plan.steps,
                                   note: job.record.note ?? (progress.ring.isEmpty ? nil : "ring: " + progress.ring.joined(separator: ", ")), kind: "training")
        }
        let jobs = (slides + runs).sorted { $0.job < $1.job }
        return Wire.Status(workers: workers, jobs: jobs)
    }

    func metrics() -> String {
        var lines = ["# TYPE tessera_workers gauge"]
        for (index, name) in memberNames.enumerated() { lines.append("tessera_workers{member=\"\(name)\"} \(registry.count(of: index))") }
        lines.append("# TYPE tessera_jobs gauge")
        for state in ["uploading", "queued", "running", "finalizing", "finished", "failed"] {
            lines.append("tessera_jobs{state=\"\(state)\"} \(jobs.filter { $0.state.rawValue == state }.count)")
        }
        lines.append("# TYPE tessera_tiles_done_total counter")
        lines.append("tessera_tiles_done_total \(tilesDoneOfRemovedJobs + jobs.map(\.tilesDone).reduce(0, +))")
        lines.append("# TYPE tessera_dropped_messages_total counter")
        lines.append("tessera_dropped_messages_total \(droppedMessages)")
        lines.append("# TYPE tessera_workers_lost_total counter")
        for reason in ["left", "registered again", "silent", "unreachable"] {
            lines.append("tessera_workers_lost_total{reason=\"\(reason)\"} \(lostWorkers[reason] ?? 0)")
        }
        lines.append("# TYPE tessera_tiles_requeued_total counter")
        lines.append("tessera_tiles_requeued_total \(requeuedTiles)")
        // How close each worker came to being counted gone: its longest silence so far.
        lines.append("# TYPE tessera_worker_longest_silence_seconds gauge")
        for worker in registry.workers.values.sorted(by: { $0.name < $1.name }) {
            let name = worker.name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            lines.append("tessera_worker_longest_silence_seconds{worker=\"\(name)\"} \(String(format: "%.3f", worker.liveness.longestSilence))")
        }
        lines.append("# TYPE tessera_training_ring_changes_total counter")
        lines.append("tessera_training_ring_changes_total \(trainingJobs.map { max(0, $0.record.rings.count - 1) }.reduce(0, +))")
        // By thread: this one ("sockets"), the job threads as they account for themselves,
        // and the rest of the process (libzmq's I/O thread above all).
        var threads = ThreadCPU.shared.totals
        threads["sockets"] = ThreadCPU.current() - runStartCPU
        if let process = CPUTime.seconds() { threads["libzmq and other"] = max(0, process - threads.values.reduce(0, +)) }
        lines.append("# TYPE tessera_cpu_seconds_total counter")
        for (thread, seconds) in threads.sorted(by: { $0.key < $1.key }) {
            lines.append("tessera_cpu_seconds_total{thread=\"\(thread)\"} \(String(format: "%.6f", seconds))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
