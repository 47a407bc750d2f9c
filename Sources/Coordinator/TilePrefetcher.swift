import Foundation
import Shared

/// Reads a job's tiles ahead, in plan order, on a thread of its own (with its own
/// `SlideReader`), so the coordinator's socket thread spends no time decoding slides.
/// At most `depth` tiles wait, so memory stays bounded.
final class TilePrefetcher: @unchecked Sendable {
    private let lock = NSCondition()
    private var ready: [(index: Int, pixels: [UInt8])] = []
    private var failure: Error?
    private var stopped = false
    private let depth: Int

    /// Starts reading tiles `first ..< plan.tileCount` of `slidePath`.
    init(slidePath: String, plan: TilePlan, first: Int = 0, depth: Int = 32) {
        self.depth = depth
        let thread = Thread { [self] in
            do {
                let reader = try SlideReader(path: slidePath)
                for index in first..<plan.tileCount {
                    let tile = TileIndex(row: index / plan.columns, column: index % plan.columns)
                    let origin = plan.origin(of: tile)
                    let pixels = try reader.readRGB(x: origin.x, y: origin.y, width: plan.tileSize, height: plan.tileSize).pixels
                    lock.lock()
                    while ready.count >= depth && !stopped { lock.wait() }
                    if stopped { lock.unlock(); return }
                    ready.append((index, pixels))
                    lock.unlock()
                }
            } catch {
                lock.lock()
                failure = error
                lock.unlock()
            }
        }
        thread.name = "tile reader"
        thread.start()
    }

    /// The next tile read, if one is ready; throws the reader's error once it failed.
    func next() throws -> (index: Int, pixels: [UInt8])? {
        lock.lock()
        defer { lock.unlock() }
        if !ready.isEmpty {
            let tile = ready.removeFirst()
            lock.signal()
            return tile
        }
        if let failure { throw failure }
        return nil
    }

    /// Ends the reading thread (a finished or failed job).
    func stop() {
        lock.lock()
        stopped = true
        ready.removeAll()
        lock.broadcast()
        lock.unlock()
    }

    deinit { stop() }
}
