import Core
import Foundation
import Shared
import ZeroMQ

/// What `status` and the metrics socket report.
extension CoordinatorServer {
    func status() -> Wire.Status {
        let now = Date()
        let workers = registry.workers.values.sorted { $0.name < $1.name }.map { worker in
            Wire.Status.Worker(
                name: worker.name, member: memberNames[worker.member],
                state: worker.training.map { "training (run \($0))" } ?? (worker.inFlight.isEmpty ? "idle" : "busy"),
                tilesPerSecond: Double(worker.tilesDone) / max(1, now.timeIntervalSince(worker.joined)),
                inFlight: worker.inFlight.count, tilesDone: worker.tilesDone,
                kernels: worker.kernels.isEmpty ? nil : worker.kernels)
        }
        let slides = self.jobs.map {
            Wire.Status.Job(job: $0.id, name: $0.name, state: $0.state.rawValue, tilesDone: $0.tilesDone, tilesTotal: $0.tilesTotal, note: $0.note)
        }
        let runs = trainingJobs.map { job in
            let progress = job.progress
            return Wire.Status.Job(
                job: job.id, name: job.record.name, state: progress.state.rawValue, tilesDone: progress.step, tilesTotal: job.plan.steps,
                note: job.record.note ?? (progress.ring.isEmpty ? nil : "ring: " + progress.ring.joined(separator: ", ")), kind: "training")
        }
        let jobs = (slides + runs).sorted { $0.job < $1.job }
        return Wire.Status(workers: workers, jobs: jobs)
    }

    /// Sets the gauges and publishes the status page's snapshot: once a second, from `tick`.
    func publishStatus() {
        refreshMetrics()
        let status = status()
        let runs = trainingJobs.map { job in
            let progress = job.progress
            return StatusBoard.Snapshot.Run(
                job: job.id, name: job.record.name, member: job.record.member, state: progress.state.rawValue,
                step: progress.step, steps: job.plan.steps, loss: StatusBoard.curve(job.losses),
                validation: job.record.validation.map { [Double($0.step), $0.dice] }, ring: progress.ring)
        }
        board.publish(
            StatusBoard.Snapshot(
                members: memberNames, workers: status.workers, jobs: status.jobs, runs: runs,
                tilesPerSecond: status.workers.map(\.tilesPerSecond).reduce(0, +)))
    }

    /// The metrics text, with every gauge set from the state of now.
    func metrics() -> String {
        refreshMetrics()
        return meter.text()
    }

    /// Sets the gauges of state: workers and jobs, queues, silences, training, CPU.
    func refreshMetrics() {
        for (index, name) in memberNames.enumerated() { meter.set("tessera_workers", [("member", name)], to: Double(registry.count(of: index))) }
        for state in SlideJobState.allCases.map(\.rawValue) {
            meter.set("tessera_jobs", [("state", state)], to: Double(jobs.filter { $0.state.rawValue == state }.count))
        }
        let open = jobs.filter { $0.state == .running || $0.state == .queued || $0.state == .uploading }
        meter.set("tessera_queued_tiles", to: Double(open.map { $0.tilesTotal - $0.tilesDone }.reduce(0, +)))
        meter.set("tessera_tiles_in_flight", to: Double(registry.workers.values.map(\.inFlight.count).reduce(0, +)))
        meter.set("tessera_training_runs", to: Double(trainingJobs.filter { $0.state == .running || $0.state == .queued }.count))
        // How close each worker came to being counted gone: its longest silence so far.
        let live = Set(registry.workers.values.map(\.name))
        for worker in registry.workers.values {
            meter.set("tessera_worker_longest_silence_seconds", [("worker", worker.name)], to: worker.liveness.longestSilence)
            meter.set("tessera_worker_tiles_done", [("worker", worker.name)], to: Double(worker.tilesDone))
        }
        for name in ["tessera_worker_longest_silence_seconds", "tessera_worker_tiles_done"] {
            meter.removeSeries(of: name, label: "worker", keeping: live)
        }
        for job in trainingJobs where job.state == .running {
            let run = [("run", "\(job.id)")]
            meter.set("tessera_training_step", run, to: Double(job.progress.step))
            if let loss = job.lastLoss { meter.set("tessera_training_loss", run, to: loss) }
            if let dice = job.record.validation.last?.dice { meter.set("tessera_training_validation_dice", run, to: dice) }
        }
        meter.keepSendTimes { scheduler.assignments[$0] != nil }
        // By thread: this one ("sockets"), the job threads as they account for themselves,
        // and the rest of the process (libzmq's I/O thread above all).
        var threads = ThreadCPU.shared.totals
        threads["sockets"] = ThreadCPU.current() - runStartCPU
        if let process = CPUTime.seconds() { threads["libzmq and other"] = max(0, process - threads.values.reduce(0, +)) }
        meter.cpu(threads)
    }
}
