import Core
import Foundation
import Segmentation
import Shared
import Tiling

/// Blends a job's maps on a thread of its own: decodes each map, adds it to the
/// stitcher, writes the rows that become final and, after the last tile, finishes the
/// mask and its RLE. The socket thread only hands maps over, so it keeps serving peers.
final class StitchWorker: @unchecked Sendable {
    /// One member's map of a tile; nil: 0 everywhere (a tile over glass).
    private struct Work { let tile: TileIndex; let member: Int; let map: [UInt8]? }

    private let lock = NSCondition()
    private var queue: [Work] = []
    private var outcome: Result<Wire.Finished, Error>?
    private var stopped = false

    /// Starts the thread for a job whose stitcher and output are set up.
    init(job: SlideJob, stitcher: Stitcher, output: SegmentationOutput, encoding: MapEncoding, inset: Int) {
        let id = job.id, maskPath = job.maskPath, rlePath = job.rlePath
        let box = UncheckedBox((stitcher, output))
        Thread { [self] in
            ThreadName.setCurrent("stitcher")
            let (stitcher, output) = box.value
            // Accounted before the job is reported finished, so metrics read after it include it.
            let outcome = ThreadCPU.shared.measure("stitcher") { () -> Result<Wire.Finished, Error>? in
                do {
                    while let work = take() {
                        if let map = work.map {
                            try map.withUnsafeBufferPointer {
                                try stitcher.add(tile: work.tile, member: work.member, encoded: $0, encoding: encoding, inset: inset)
                            }
                        } else {
                            try stitcher.addZeros(tile: work.tile, member: work.member)
                        }
                        try output.appendFinishedRows(of: stitcher)
                        if stitcher.isComplete { break }
                    }
                    guard stitcher.isComplete else { return nil }  // stopped
                    try output.finish()
                    let text = RLE.text(output.runs())
                    try text.write(toFile: rlePath, atomically: true, encoding: .utf8)
                    let maskBytes = (try FileManager.default.attributesOfItem(atPath: maskPath)[.size] as? NSNumber)?.uint64Value ?? 0
                    return .success(
                        Wire.Finished(
                            job: id, width: output.width, height: output.height, foregroundPixels: output.foreground,
                            maskBytes: maskBytes, rleBytes: UInt64(text.utf8.count)))
                } catch {
                    return .failure(error)
                }
            }
            if let outcome { finish(outcome) }
        }.start()
    }

    /// Hands over one member's encoded map of a tile (nil: 0 everywhere, a tile over glass).
    func add(tile: TileIndex, member: Int, map: [UInt8]?) {
        lock.lock()
        queue.append(Work(tile: tile, member: member, map: map))
        lock.signal()
        lock.unlock()
    }

    /// Maps handed over and not yet blended: counted against the job's window.
    var backlog: Int { lock.withLock { queue.count } }

    /// The job's end, once the thread has written everything (or failed).
    var result: Result<Wire.Finished, Error>? { lock.withLock { outcome } }

    /// Ends the thread without finishing (a failed job).
    func stop() {
        lock.lock()
        stopped = true
        queue.removeAll()
        lock.broadcast()
        lock.unlock()
    }

    private func take() -> Work? {
        lock.lock()
        defer { lock.unlock() }
        while queue.isEmpty && !stopped { lock.wait() }
        guard !stopped else { return nil }
        return queue.removeFirst()
    }

    private func finish(_ result: Result<Wire.Finished, Error>) {
        lock.withLock { outcome = result }
    }
}
