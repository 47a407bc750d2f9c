import Core
import Foundation
import Segmentation
import Shared
import Tiling

/// One submitted slide: its bytes (read in place or uploaded), its tiles in flight, the
/// stitcher, and the mask and RLE it produces.
final class SlideJob {
    typealias State = SlideJobState

    let id: UInt64
    let name: String
    /// The client to send progress to (changes on attach).
    var client: [UInt8]
    var state: State
    var note: String?
    let directory: String
    var slidePath: String
    let slideSize: UInt64
    let slideDigest: String
    /// Whether the client sends the slide's bytes (the coordinator cannot read its path).
    let isUpload: Bool

    // Upload
    var uploadHandle: FileHandle?
    var nextFetchOffset: UInt64 = 0
    var outstandingFetches: Set<UInt64> = []
    var receivedBytes: UInt64 = 0
    var lastUploadActivity = Date()

    // Running
    var plan: TilePlan?
    /// Reads tiles ahead of admission.
    var prefetcher: TilePrefetcher?
    /// Blends maps and writes the mask.
    var stitchWorker: StitchWorker?
    /// Next tile (row-major) to admit into the window.
    var nextTile = 0
    /// Admitted tiles still missing some member's map, with how many members are owed.
    var owed: [Int: Int] = [:]
    var memberDone: [Int] = []
    var tilesDone = 0
    /// Tiles over glass, not predicted (each member's map is 0 everywhere).
    var tilesSkipped = 0
    var started: Date?
    /// Since when a member needed by this job has had no worker.
    var waitingSince: Date?

    // Results
    var finished: Wire.Finished?
    /// When the job finished or failed.
    var ended: Date?
    /// When a client last fetched part of its mask or RLE.
    var lastFetch: Date?

    /// Whether the job ended and nobody has fetched its result for `keep` seconds.
    func hasExpired(keep: TimeInterval, now: Date) -> Bool {
        guard let ended else { return false }
        return now.timeIntervalSince(max(ended, lastFetch ?? ended)) > keep
    }

    var maskPath: String { directory + "/mask.tiff" }
    var rlePath: String { directory + "/mask.rle" }

    init(
        id: UInt64, name: String, client: [UInt8], directory: String, slidePath: String, size: UInt64, digest: String, upload: Bool, members: Int,
        pixelSize: Double? = nil, organ: String? = nil, reader: SlideBackend? = nil
    ) {
        self.pixelSize = pixelSize
        self.organ = organ
        self.reader = reader
        self.id = id
        self.name = name
        self.client = client
        self.directory = directory
        self.slidePath = slidePath
        self.slideSize = size
        self.slideDigest = digest
        self.isUpload = upload
        self.state = upload ? .uploading : .queued
        memberDone = Array(repeating: 0, count: members)
    }

    /// The slide's pixel size as the submission gave it (nil: the file's).
    let pixelSize: Double?
    /// The slide's organ as the submission gave it, which picks the threshold.
    let organ: String?
    /// Who reads the slide, as the submission asked (nil: the configuration's `reader`).
    let reader: SlideBackend?
    /// Where tiles are read and at what pixel size, once started.
    private(set) var source = TileSource(slidePixelSize: nil)

    var tilesTotal: Int { plan?.tileCount ?? recordedTiles ?? 0 }
    /// The tile count a journal record gave (a job taken back after a restart).
    var recordedTiles: Int?

    /// Creates (or empties) the file the uploaded bytes go to and opens it; false when it
    /// cannot.
    func openUploadFile() -> Bool {
        guard FileManager.default.createFile(atPath: slidePath, contents: nil),
            let handle = FileHandle(forWritingAtPath: slidePath)
        else { return false }
        uploadHandle = handle
        return true
    }

    /// What the journal keeps of this job.
    var record: JobJournal.Record {
        JobJournal.Record(
            id: id, name: name, slidePath: slidePath, size: slideSize, digest: slideDigest, upload: isUpload,
            state: state, note: note, finished: finished, tiles: tilesTotal > 0 ? tilesTotal : nil,
            ended: ended?.timeIntervalSince1970, pixelSize: pixelSize, organ: organ, reader: reader?.rawValue)
    }

    /// Marks the job ended and deletes the slide's uploaded copy: only the mask and RLE
    /// are asked for afterwards, and a slide can take gigabytes.
    func end(_ state: State, at date: Date = Date()) {
        precondition(state == .finished || state == .failed)
        self.state = state
        ended = ended ?? date
        release()
        if isUpload { try? FileManager.default.removeItem(atPath: slidePath) }
    }

    /// Opens the slide — its reader, tissue map and stains, the slow part, which
    /// `JobOpener` runs off the socket thread — with this job's settings; `memberPixelSizes`
    /// decide the pyramid level tiles are read from. Reads only what never changes.
    func openPipeline(
        settings: SegmentationSettings, memberWeights: [Int], memberPixelSizes: [Double?]
    ) throws
        -> (pipeline: SlidePipeline, settings: SegmentationSettings)
    {
        var settings = try settings.forOrgan(organ)
        settings.pixelSize = pixelSize ?? settings.pixelSize
        settings.reader = reader ?? settings.reader
        let pipeline = try SlidePipeline(
            slidePath: slidePath, settings: settings, memberWeights: memberWeights,
            memberPixelSizes: memberPixelSizes, maskPath: maskPath)
        return (pipeline, settings)
    }

    /// Sets up stitching, the outputs and the tile readers of an opened slide.
    func start(pipeline: SlidePipeline, settings: SegmentationSettings, slideReaders: Int) {
        source = pipeline.source
        stitchWorker = StitchWorker(
            job: self, stitcher: pipeline.stitcher, output: pipeline.output, encoding: settings.maps,
            inset: settings.mapInset)
        plan = pipeline.plan
        prefetcher = TilePrefetcher(
            slidePath: slidePath, plan: pipeline.plan, downsample: pipeline.source.downsample, stain: pipeline.stain, readers: slideReaders,
            tissue: pipeline.tissue, backend: settings.reader)
        state = .running
        started = Date()
    }

    /// Seconds left, from the rate so far.
    var secondsLeft: Double? {
        guard let started, tilesDone > 0, tilesTotal > 0 else { return nil }
        let elapsed = Date().timeIntervalSince(started)
        return elapsed / Double(tilesDone) * Double(tilesTotal - tilesDone)
    }

    func progress(memberNames: [String]) -> Wire.Progress {
        Wire.Progress(
            job: id, state: state, tilesDone: tilesDone, tilesTotal: tilesTotal, memberDone: memberDone,
            memberNames: memberNames, secondsLeft: secondsLeft, note: note)
    }

    /// Releases what a running job holds (readers, stitcher, upload file): part of `end`.
    private func release() {
        prefetcher?.stop()
        prefetcher = nil
        stitchWorker?.stop()
        stitchWorker = nil
        try? uploadHandle?.close()
        uploadHandle = nil
    }
}
