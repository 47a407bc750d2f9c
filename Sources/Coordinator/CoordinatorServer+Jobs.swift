import Core
import Foundation
import Segmentation
import Shared
import Tiling
import ZeroMQ

/// Jobs: starting them, admitting their tiles, finishing or failing them, the journal.
extension CoordinatorServer {
    /// Starts the first queued job once nothing runs: its slide is opened by `JobOpener`,
    /// off this thread, and the job starts when it is.
    func startNextJob() {
        for (id, outcome) in opener.finished() {
            guard let job = job(id), job.state == .queued else { continue }
            switch outcome {
            case .success(let opened):
                job.start(
                    pipeline: opened.pipeline, settings: opened.settings,
                    slideReaders: config.slideReaders ?? ClusterConfig.defaultSlideReaders)
                let level = job.source.downsample > 1 ? ", read from the \(job.source.downsample)× pyramid level" : ""
                let glass = opened.pipeline.tissue.listed.map { ", \($0.count) of them over glass alone (not predicted)" } ?? ""
                log.info("job \(job.id) (\(job.name)) started: \(job.plan!.tileCount) tiles\(glass)\(level)", ["job": "\(job.id)"])
                clock.reset()
            case .failure(let error):
                fail(job, "\(error)")
            }
        }
        guard opener.opening == nil, activeJob == nil, !jobs.contains(where: { $0.state == .finalizing }),
            let job = jobs.first(where: { $0.state == .queued })
        else { return }
        opener.open(job, settings: config.settings, memberWeights: config.memberWeights, memberPixelSizes: config.members.map(\.pixelSize))
    }

    /// Admits tiles of the running job into the window: read once, queued for every member.
    func admitTiles() {
        admissionPending = false
        guard let job = activeJob, let plan = job.plan else { return }
        let window = scheduler.admissionWindow
        // Maps waiting to be blended count against the window, bounding memory.
        let backlog = (job.stitchWorker?.backlog ?? 0) / max(1, config.members.count)
        defer { admissionPending = job.owed.count + backlog < window && job.nextTile < plan.tileCount }
        while job.owed.count + backlog < window && job.nextTile < plan.tileCount {
            let tile = TileIndex(row: job.nextTile / plan.columns, column: job.nextTile % plan.columns)
            let pixels: [UInt8]
            do {
                // Tiles come from the reader thread in plan order; none ready yet: try later.
                guard let next = try clock.time(.read, { try job.prefetcher?.next() }) else { return }
                precondition(next.index == job.nextTile, "the tile reader went out of order")
                pixels = next.pixels
            } catch {
                return fail(job, "\(error)")
            }
            if pixels.isEmpty {
                // Glass alone: every member's map is 0, blended as any other, never sent.
                for member in 0..<config.members.count { job.stitchWorker?.add(tile: tile, member: member, map: nil) }
                job.nextTile += 1
                job.tilesDone += 1
                job.tilesSkipped += 1
                meter.tileFinishedUnsent()
                if job.tilesDone == job.tilesTotal { finalize(job) }
                continue
            }
            scheduler.enqueue(job: job.id, tile: tile, pixels: pixels)
            job.owed[job.nextTile] = config.members.count
            job.nextTile += 1
        }
    }

    /// A job whose member has no worker waits, and fails past the deadline.
    func checkWaiting(_ now: Date) {
        guard let job = activeJob else { return }
        let (missing, overdue) = scheduler.waiting(at: now, owed: !job.owed.isEmpty)
        if missing.isEmpty {
            if job.waitingSince != nil { job.note = nil }
            job.waitingSince = nil
            return
        }
        let names = missing.map { memberNames[$0] }.joined(separator: ", ")
        job.waitingSince = job.waitingSince ?? now
        let refusals = missing.compactMap { tileRefusals[$0] }
        job.note = "waiting for a worker of member \(names)" + (refusals.isEmpty ? "" : "; refused: " + refusals.joined(separator: "; "))
        if overdue {
            fail(job, "no worker of member \(names) joined within \(Int(config.memberDeadline)) s")
        }
    }

    func finalize(_ job: SlideJob) {
        let seconds = job.started.map { Date().timeIntervalSince($0) } ?? 0
        log.info(
            "job \(job.id): all \(job.tilesTotal) tiles done, \(job.tilesSkipped) of them over glass alone (not predicted), in \(String(format: "%.2f", seconds)) s (coordinator thread: \(clock.summary)); writing the mask's last rows and its RLE",
            ["job": "\(job.id)"])
        clock.reset()
        job.state = .finalizing
    }

    func checkStitchResults() {
        for job in jobs where job.state == .finalizing || job.state == .running {
            // Either way the job ends, which releases what it holds.
            guard let result = job.stitchWorker?.result else { continue }
            switch result {
            case .success(let finished):
                job.finished = finished
                job.end(.finished)
                persist(job)
                let seconds = job.started.map { Date().timeIntervalSince($0) } ?? 0
                log.info("job \(job.id) finished: \(job.tilesTotal) tiles in \(String(format: "%.1f", seconds)) s", ["job": "\(job.id)"])
                send(clientSocket, job.client, WireCodec.frames(.finished, finished))
            case .failure(let error):
                fail(job, "\(error)")
            }
        }
    }

    func fail(_ job: SlideJob, _ reason: String) {
        guard job.state != .failed && job.state != .finished else { return }
        log.error("job \(job.id) failed: \(reason)", ["job": "\(job.id)"])
        job.note = reason
        job.end(.failed)
        persist(job)
        scheduler.cancel(job: job.id)
        send(clientSocket, job.client, WireCodec.frames(.failed, Wire.Failed(job: job.id, reason: reason)))
    }

    func job(_ id: UInt64) -> SlideJob? { jobs.first { $0.id == id } }

    /// Removes the jobs whose results nobody fetched for `keep_results` seconds after they
    /// ended: their folders (mask, RLE, record) and their place in `status`.
    func removeExpiredJobs(_ now: Date) {
        for job in jobs where job.hasExpired(keep: config.keepResults, now: now) {
            do {
                try FileManager.default.removeItem(atPath: job.directory)
            } catch {
                log.warning("job \(job.id): cannot remove \(job.directory): \(error.localizedDescription)", ["job": "\(job.id)"])
            }
            log.info(
                "job \(job.id) removed: ended \(Int(now.timeIntervalSince(job.ended!))) s ago (keep_results = \(Int(config.keepResults)))", ["job": "\(job.id)"]
            )
        }
        jobs.removeAll { $0.hasExpired(keep: config.keepResults, now: now) }
    }

    // MARK: Journal

    func persist(_ job: SlideJob) {
        do { try journal.save(job.record) } catch { log.error("job \(job.id): cannot record its state: \(error)", ["job": "\(job.id)"]) }
    }

    /// Takes back the jobs a previous coordinator on this state directory left: finished
    /// and failed ones as they were, queued and running ones to run again from the start,
    /// uploads to start over when their client attaches.
    func restoreJobs() {
        let records = journal.load { path, error in log.warning("ignored \(path): \(error)") }
        var again = 0
        for record in records {
            let job = SlideJob(
                id: record.id, name: record.name, client: [], directory: journal.folder(of: record.id),
                slidePath: record.slidePath, size: record.size, digest: record.digest, upload: record.upload,
                members: config.members.count, pixelSize: record.pixelSize, organ: record.organ,
                reader: record.reader.flatMap(SlideBackend.init(rawValue:)))
            nextJobID = max(nextJobID, record.id + 1)
            job.recordedTiles = record.tiles
            jobs.append(job)
            // Records from before `ended` was kept: the record's last write is when it ended.
            let ended =
                record.ended.map { Date(timeIntervalSince1970: $0) }
                ?? (try? FileManager.default.attributesOfItem(atPath: job.directory + "/job.json")[.modificationDate] as? Date) ?? Date()
            switch record.state {
            case .finished:
                if let finished = record.finished, FileManager.default.fileExists(atPath: job.maskPath), FileManager.default.fileExists(atPath: job.rlePath) {
                    job.finished = finished
                    job.tilesDone = record.tiles ?? 0
                    job.end(.finished, at: ended)
                } else {
                    job.note = "its mask is gone from \(job.directory)"
                    job.end(.failed, at: ended)
                }
            case .failed:
                job.note = record.note
                job.end(.failed, at: ended)
            case .uploading:
                if job.openUploadFile() {
                    job.note = "upload starts over when its client attaches"
                } else {
                    job.note = "cannot create \(job.slidePath)"
                    job.end(.failed)
                }
            default:
                job.state = .queued
                again += 1
            }
            if job.state != record.state || (record.ended == nil && job.ended != nil) { persist(job) }
        }
        if !records.isEmpty {
            log.info("took back \(records.count) job(s) from \(journal.directory); \(again) to run again")
        }
    }
}
