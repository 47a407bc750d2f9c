import Core
import Foundation
import Segmentation
import Shared
import Tiling

/// Reads a job's tiles ahead on threads of their own (each with its own `SlideReader`),
/// so the coordinator's socket thread spends no time decoding slides, and hands them out
/// in plan order.
///
/// Decoding a compressed slide is the coordinator's heaviest work, so it can be split:
/// with `readers` threads, each reads a contiguous band of tile columns, row after row.
/// Neighbouring windows share slide tiles, so only the tiles at the bands' borders are
/// decoded twice. The tiles themselves are the same whatever the count. Each reader keeps
/// at most `depth / readers` tiles waiting, so memory stays bounded.
///
/// A tile whose map was lost with its worker is read again here too (`reread`), by the
/// first reader free, so the socket thread never decodes and the job holds no other reader.
final class TilePrefetcher: @unchecked Sendable {
    private let lock = NSCondition()
    /// Tiles read and not yet taken, per reader, in plan order.
    private var ready: [[(index: Int, pixels: [UInt8])]]
    private var failure: Error?
    private var stopped = false
    private let perReader: Int
    private let plan: TilePlan
    /// Full-resolution pixels per pixel read: the pyramid level tiles come from.
    private let downsample: Int
    /// Who reads the slide (the job's `reader`).
    private let backend: SlideBackend
    /// The slide's stain normalisation, applied as tiles are read.
    private let stain: SlideStain?
    /// The first tile column of each reader's band, and the end of the last.
    private let bands: [Int]
    /// The index `next` hands out next.
    private var nextIndex: Int
    /// Tiles to read again, and those read again and not yet taken.
    private var rereads: [TileIndex] = []
    private var reread: [(tile: TileIndex, pixels: [UInt8])] = []
    /// Tells tiles over glass, handed out without pixels (each reader asks a copy).
    private let tissue: TissueFilter

    /// Starts reading tiles `first ..< plan.tileCount` of `slidePath` on `readers` threads
    /// (at most one per tile column); tiles `tissue` finds over glass come without pixels.
    init(
        slidePath: String, plan: TilePlan, downsample: Int = 1, stain: SlideStain? = nil, first: Int = 0, depth: Int = 32, readers: Int = 1,
        tissue: TissueFilter = .off, backend: SlideBackend = .automatic
    ) {
        let readers = max(1, min(readers, plan.columns))
        self.backend = backend
        self.plan = plan
        self.downsample = downsample
        self.stain = stain
        self.tissue = tissue
        perReader = max(2, depth / readers)
        bands = (0...readers).map { $0 * plan.columns / readers }
        ready = Array(repeating: [], count: readers)
        nextIndex = first
        for reader in 0..<readers {
            let columns = bands[reader]..<bands[reader + 1]
            let thread = Thread { [self] in
                ThreadName.setCurrent("tile reader \(reader + 1)")
                ThreadCPU.shared.measure("tile reader \(reader + 1)") {
                    read(slidePath, columns: columns, from: first, into: reader)
                }
            }
            thread.name = "tile reader \(reader + 1)"
            thread.start()
        }
    }

    /// Reads the tiles of `columns` from tile `first` on, in plan order, into `ready[reader]`;
    /// then reads tiles again on request until stopped.
    private func read(_ slidePath: String, columns: Range<Int>, from first: Int, into reader: Int) {
        do {
            guard try readBand(slidePath, columns: columns, from: first, into: reader) else { return }
            // The band is read, and its reader and block cache are gone: serve re-reads until
            // the job ends, with a reader opened when the first comes (lost tiles are rare).
            var later: SlideReader?
            lock.lock()
            while !stopped {
                guard !rereads.isEmpty else { lock.wait(); continue }
                guard let slide = later else {
                    lock.unlock()
                    later = try SlideReader(path: slidePath, downsample: downsample, backend: backend)
                    lock.lock()
                    continue
                }
                try readAgain(slide)
            }
            lock.unlock()
        } catch {
            lock.lock()
            if failure == nil { failure = error }
            lock.unlock()
        }
    }

    /// Reads the tiles of `columns` in plan order into `ready[reader]`, serving re-reads
    /// while it waits for room; false when stopped first.
    private func readBand(_ slidePath: String, columns: Range<Int>, from first: Int, into reader: Int) throws -> Bool {
        let slide = try SlideReader(path: slidePath, downsample: downsample, backend: backend)
        var tissue = self.tissue
        // The band's width, and a window row plus the next one's stride (and what the tissue
        // test reads around them): what must stay decoded.
        slide.keepBlocks(
            forWidth: ((columns.count - 1) * plan.stride + plan.tileSize + 2 * tissue.reach) / downsample,
            height: (plan.tileSize + plan.stride + 2 * tissue.reach) / downsample)
        for row in (first / plan.columns)..<plan.rows {
            for column in columns where row * plan.columns + column >= first {
                let tile = TileIndex(row: row, column: column)
                let pixels = try SlidePipeline.tile(tile, of: plan, from: slide, stain: stain, tissue: &tissue)?.pixels ?? []
                lock.lock()
                while ready[reader].count >= perReader && !stopped {
                    if !rereads.isEmpty { try readAgain(slide) } else { lock.wait() }
                }
                if stopped { lock.unlock(); return false }
                ready[reader].append((row * plan.columns + column, pixels))
                lock.unlock()
            }
        }
        return true
    }

    /// Reads the first tile asked for again. Called with the lock held; returns with it
    /// held, throws with it released (as `read`'s error path expects).
    private func readAgain(_ slide: SlideReader) throws {
        let tile = rereads.removeFirst()
        lock.unlock()
        let pixels = try SlidePipeline.tile(tile, of: plan, from: slide, stain: stain).pixels
        lock.lock()
        reread.append((tile, pixels))
    }

    /// Asks for `tile` to be read again (its map was lost with a worker).
    func reread(_ tile: TileIndex) {
        lock.lock()
        rereads.append(tile)
        lock.broadcast()
        lock.unlock()
    }

    /// The tiles read again since the last call; throws a reader's error once one failed.
    func takeRereads() throws -> [(tile: TileIndex, pixels: [UInt8])] {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        let taken = reread
        reread.removeAll()
        return taken
    }

    /// The reader whose band holds `index`.
    private func reader(of index: Int) -> Int {
        let column = index % plan.columns
        return bands.lastIndex { $0 <= column }.map { min($0, ready.count - 1) } ?? 0
    }

    /// The next tile in plan order, if it is read; throws a reader's error once one failed.
    func next() throws -> (index: Int, pixels: [UInt8])? {
        lock.lock()
        defer { lock.unlock() }
        guard nextIndex < plan.tileCount else { return nil }
        let owner = reader(of: nextIndex)
        if let head = ready[owner].first, head.index == nextIndex {
            ready[owner].removeFirst()
            nextIndex += 1
            lock.broadcast()
            return head
        }
        if let failure { throw failure }
        return nil
    }

    /// Ends the reading threads (a finished or failed job).
    func stop() {
        lock.lock()
        stopped = true
        for reader in ready.indices { ready[reader].removeAll() }
        lock.broadcast()
        lock.unlock()
    }

    deinit { stop() }
}
