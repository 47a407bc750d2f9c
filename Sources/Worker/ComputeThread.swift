import Core
import Foundation
import Shared
import Synchronization
import Tiling
import ZeroMQ

/// Runs the model on tiles, one at a time and in order, on a thread of its own (a
/// `MailboxThread`).
///
/// Tiles and results change threads in memory: a tile's pixels (786 KB for 512²) and its
/// map are handed over, never copied; a `Doorbell` wakes the I/O thread.
final class ComputeThread: @unchecked Sendable {
    /// Readable when results wait (`takeResults`).
    var doorbell: ZMQSocket { bell.socket }
    private let bell: Doorbell
    private let predictor: TilePredictor
    private let member: ClusterConfig.Member
    private let log: Log
    private var mailbox: MailboxThread<(request: Wire.TileRequest, pixels: [UInt8], ticket: UInt64)>!
    private let results = Mutex<[(ticket: UInt64, frames: [[UInt8]])]>([])

    /// Starts the thread.
    init(context: ZMQContext, predictor: TilePredictor, member: ClusterConfig.Member, log: Log) throws {
        bell = try Doorbell(context: context, name: "compute", log: log)
        self.predictor = predictor
        self.member = member
        self.log = log
        mailbox = MailboxThread(name: "compute") { [self] tile in
            let message = predict(tile.request, pixels: tile.pixels)
            results.withLock { $0.append((tile.ticket, message)) }
            bell.ring()
        }
    }

    /// Queues a well-formed tile (`WorkerLink` checked it); `ticket` comes back with its answer.
    func submit(_ request: Wire.TileRequest, pixels: [UInt8], ticket: UInt64) {
        // The handler never throws, so neither does posting.
        try? mailbox.post((request, pixels, ticket))
    }

    /// The messages (results or failures) finished since the last call, oldest first,
    /// with their tiles' tickets; silences the doorbell.
    func takeResults() -> [(ticket: UInt64, frames: [[UInt8]])] {
        bell.silence()
        return results.withLock { results in
            defer { results.removeAll() }
            return results
        }
    }

    /// Ends the thread once the tile in hand is done, dropping those waiting.
    func stop() { mailbox.stop(wait: true) }

    /// The result message for one tile, or a failure message saying why there is none.
    private func predict(_ request: Wire.TileRequest, pixels: [UInt8]) -> [[UInt8]] {
        let size = Int(request.size)
        let tile = PixelImage(width: size, height: size, channels: 3, pixels: pixels)
        do {
            let scale = try TileScale.member(
                pixelSize: member.pixelSize, tilePixelSize: request.pixelSize > 0 ? request.pixelSize : nil,
                inputSide: size, mapSide: Int(request.mapSize), predictor: predictor, member: "member \(member.name)")
            let map = try request.encoding.prediction(of: tile, by: predictor, flips: request.flips, inset: Int(request.inset), scale: scale)
            let result = Wire.TileResult(
                job: request.job, request: request.request, row: request.row,
                column: request.column, size: request.mapSize, encoding: request.encoding, inset: request.inset)
            return WireCodec.frames(result, map: map)
        } catch {
            log.error("tile (\(request.row), \(request.column)) of job \(request.job) failed: \(error)")
            return WireCodec.frames(.tileFailed, Wire.TileFailure(job: request.job, request: request.request, reason: "\(error)"))
        }
    }
}
