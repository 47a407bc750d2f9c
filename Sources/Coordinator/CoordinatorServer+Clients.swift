import Core
import Foundation
import Segmentation
import Shared
import Tiling
import ZeroMQ

/// The client link (docs/PROTOCOL.md): submits, uploads, downloads, attach.
extension CoordinatorServer {
    func handleClient(_ frames: [[UInt8]]) {
        guard frames.count >= 2 else { return dropped("a client message without routing id") }
        let identity = frames[0]
        let opened = WireCodec.open(Array(frames.dropFirst()))
        guard case .success(let (kind, body)) = opened else {
            // Every message a client sends and the coordinator cannot act on is answered
            // with `error` (in the client's own framing when it speaks another version).
            if !answerOtherVersion(
                clientSocket, identity, Array(frames.dropFirst()), asking: [.submit, .trainSubmit, .attach, .statusRequest], answer: .error),
                case .failure(let error) = opened
            {
                replyError(identity, "malformed message: \(error)")
            }
            return
        }
        switch kind {
        case .submit:
            guard case .success(let submit) = WireCodec.decode(Wire.Submit.self, body[0]) else { return replyError(identity, "malformed submit") }
            submitJob(identity, submit)
        case .chunk:
            guard case .success(let chunk) = WireCodec.decode(Wire.Chunk.self, body[0]) else { return replyError(identity, "malformed chunk") }
            receiveChunk(identity, chunk, body[1])
        case .fetch:
            guard case .success(let fetch) = WireCodec.decode(Wire.Fetch.self, body[0]) else { return replyError(identity, "malformed fetch") }
            if fetch.content == .model, let training = trainingJob(fetch.job) { return serveModel(identity, fetch, training) }
            serveFetch(identity, fetch)
        case .trainSubmit:
            switch WireCodec.decode(Wire.TrainSubmit.self, body[0]) {
            case .failure(let error): return replyError(identity, "malformed trainSubmit: \(error)")
            case .success(let submit): submitTraining(identity, submit)
            }
        case .attach:
            guard case .success(let attach) = WireCodec.decode(Wire.Attach.self, body[0]) else { return replyError(identity, "malformed attach") }
            if let training = trainingJob(attach.job) { return attachTraining(identity, training) }
            guard let job = job(attach.job) else {
                return replyError(
                    identity,
                    attach.job < nextJobID
                        ? "job \(attach.job) was removed: results are kept \(Int(config.keepResults)) s after a job ends (keep_results)"
                        : "no job \(attach.job) on this coordinator")
            }
            job.client = identity
            send(clientSocket, identity, WireCodec.frames(.accepted, Wire.Accepted(job: job.id, upload: job.state == .uploading)))
            send(clientSocket, identity, WireCodec.frames(.progress, job.progress(memberNames: memberNames)))
            if let finished = job.finished { send(clientSocket, identity, WireCodec.frames(.finished, finished)) }
            if job.state == .failed { send(clientSocket, identity, WireCodec.frames(.failed, Wire.Failed(job: job.id, reason: job.note ?? "failed"))) }
            if job.state == .uploading {
                job.outstandingFetches.removeAll()
                job.lastUploadActivity = Date()
                requestChunks(job)
            }
        case .statusRequest:
            send(clientSocket, identity, WireCodec.frames(.statusReply, status()))
        default:
            replyError(identity, "unexpected \(kind) on the client socket")
        }
    }

    func submitJob(_ identity: [UInt8], _ submit: Wire.Submit) {
        // A member whose only candidates were refused for the tile side cannot segment.
        if let refusal = tileRefusals.sorted(by: { $0.key < $1.key }).first(where: { registry.count(of: $0.key) == 0 })?.value {
            return replyError(identity, "cannot segment: \(refusal)")
        }
        do { _ = try config.settings.forOrgan(submit.organ) } catch { return replyError(identity, "cannot segment: \(error)") }
        // Read the slide in place when this machine sees the same file at that path.
        let local =
            FileDigest.isRegularFile(submit.path)
            && ((try? FileDigest.sampled(submit.path)).map { $0.size == submit.size && $0.digest == submit.digest.lowercased() } ?? false)
        let suffix = (submit.name as NSString).pathExtension.lowercased()
        if !local && SlideReader.multiFileExtensions.contains(suffix) {
            return replyError(
                identity,
                "cannot upload \(submit.name): a .\(suffix) slide is several files; the coordinator must read it in place, "
                    + "at the same path (shared storage)")
        }
        let id = nextJobID
        nextJobID += 1
        let directory = journal.folder(of: id)
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            return replyError(identity, "cannot create \(directory): \(error.localizedDescription)")
        }
        let name = String(submit.name.prefix(200))
        // An upload keeps its extension: OpenSlide tells some formats (.ndpi, .svslide) by it.
        let upload = directory + "/slide." + (suffix.isEmpty || suffix.count > 8 || !suffix.allSatisfy({ $0.isLetter || $0.isNumber }) ? "tiff" : suffix)
        let job = SlideJob(
            id: id, name: name, client: identity, directory: directory,
            slidePath: local ? submit.path : upload, size: submit.size, digest: submit.digest.lowercased(),
            upload: !local, members: config.members.count, pixelSize: submit.pixelSize, organ: submit.organ,
            reader: submit.reader.flatMap(SlideBackend.init(rawValue:)))
        jobs.append(job)
        persist(job)
        log.info("job \(id) (\(name)) submitted; \(local ? "reading the slide in place" : "fetching \(submit.size) bytes")")
        send(clientSocket, identity, WireCodec.frames(.accepted, Wire.Accepted(job: id, upload: !local)))
        if !local {
            guard job.openUploadFile() else { return fail(job, "cannot create \(job.slidePath)") }
            requestChunks(job)
        }
    }

    /// Keeps a few fetches outstanding: the client sends a chunk per fetch (credit-based
    /// flow control, as in the ZeroMQ guide's file transfer).
    func requestChunks(_ job: SlideJob) {
        let chunk = UInt64(ClusterSockets.chunkBytes)
        while job.outstandingFetches.count < 4 && job.nextFetchOffset < job.slideSize {
            let size = min(chunk, job.slideSize - job.nextFetchOffset)
            send(clientSocket, job.client, WireCodec.frames(.fetch, Wire.Fetch(job: job.id, content: .slide, offset: job.nextFetchOffset, size: size)))
            job.outstandingFetches.insert(job.nextFetchOffset)
            job.nextFetchOffset += size
        }
        // Re-ask for chunks that never came (after an attach).
        if job.outstandingFetches.isEmpty && job.receivedBytes < job.slideSize { job.nextFetchOffset = job.receivedBytes }
    }

    func receiveChunk(_ identity: [UInt8], _ chunk: Wire.Chunk, _ bytes: [UInt8]) {
        guard let job = job(chunk.job), job.state == .uploading, chunk.content == .slide,
            job.outstandingFetches.contains(chunk.offset), let handle = job.uploadHandle
        else {
            return  // not asked for: late, after an attach or a restart
        }
        let expected = min(UInt64(ClusterSockets.chunkBytes), job.slideSize - chunk.offset)
        guard UInt64(bytes.count) == expected else { return fail(job, "a chunk at \(chunk.offset) held \(bytes.count) bytes, not \(expected)") }
        do {
            try handle.seek(toOffset: chunk.offset)
            try handle.write(contentsOf: Data(bytes))
        } catch {
            return fail(job, "cannot store the slide: \(error.localizedDescription)")
        }
        job.outstandingFetches.remove(chunk.offset)
        job.receivedBytes += UInt64(bytes.count)
        job.lastUploadActivity = Date()
        if job.receivedBytes == job.slideSize {
            try? handle.close()
            job.uploadHandle = nil
            let digest = try? FileDigest.sampled(job.slidePath)
            guard digest?.digest == job.slideDigest else { return fail(job, "the uploaded slide's digest does not match the client's") }
            job.state = .queued
            job.note = nil
            persist(job)
            log.info("job \(job.id): slide received (\(job.slideSize) bytes)", ["job": "\(job.id)"])
        } else {
            requestChunks(job)
        }
    }

    func checkUploads(_ now: Date) {
        for job in jobs where job.state == .uploading && now.timeIntervalSince(job.lastUploadActivity) > config.uploadTimeout {
            fail(job, "no bytes of the upload came for \(Int(config.uploadTimeout)) s (upload_timeout)")
        }
    }

    func serveFetch(_ identity: [UInt8], _ fetch: Wire.Fetch) {
        guard let job = job(fetch.job), let finished = job.finished else { return replyError(identity, "job \(fetch.job) has no result to fetch") }
        let (path, total) = fetch.content == .mask ? (job.maskPath, finished.maskBytes) : (job.rlePath, finished.rleBytes)
        guard fetch.content == .mask || fetch.content == .rle, fetch.offset <= total, fetch.size <= UInt64(ClusterSockets.chunkBytes) else {
            return replyError(identity, "fetch outside the \(fetch.content.rawValue)")
        }
        let size = min(fetch.size, total - fetch.offset)
        job.lastFetch = Date()
        guard let handle = FileHandle(forReadingAtPath: path) else { return replyError(identity, "the \(fetch.content.rawValue) of job \(job.id) is gone") }
        defer { try? handle.close() }
        let data = (try? handle.seek(toOffset: fetch.offset)).flatMap { _ in try? handle.read(upToCount: Int(size)) } ?? Data()
        send(clientSocket, identity, WireCodec.frames(.chunk, Wire.Chunk(job: job.id, content: fetch.content, offset: fetch.offset), payload: [UInt8](data)))
    }

    /// A peer of another protocol version that sends one of the kinds `asking` (a worker
    /// registering, a client submitting) is answered with `answer` and the reason, framed in
    /// its version, so it stops with a clear message instead of retrying unanswered.
    /// Returns whether it answered.
    @discardableResult
    func answerOtherVersion(_ socket: ZMQSocket, _ identity: [UInt8], _ message: [[UInt8]], asking: [WireKind], answer: WireKind) -> Bool {
        guard let first = message.first, let peer = WireHeader.otherVersion(first), asking.contains(where: { $0.rawValue == peer.kind }),
            let reason = try? JSONEncoder().encode(
                Wire.Reason("protocol version \(peer.version) is not this coordinator's \(WireHeader.version): run the same Tessera release everywhere"))
        else { return false }
        dropped("a \(socket === clientSocket ? "client" : "worker") of protocol version \(peer.version)")
        send(socket, identity, [WireHeader.frame(answer, version: peer.version), [UInt8](reason)])
        return true
    }

    func replyError(_ identity: [UInt8], _ reason: String) {
        dropped(reason)
        send(clientSocket, identity, WireCodec.frames(.error, Wire.Reason(reason)))
    }
}
