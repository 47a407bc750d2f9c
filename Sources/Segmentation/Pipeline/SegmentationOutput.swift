import Core
import Tiling

/// Where stitched rows go: the mask (0/255) and, optionally, the 8-bit probability map,
/// both tiled Deflate TIFFs written band by band, and the mask's competition runs, built
/// as the rows pass.
///
/// Mask rows are compressed, written and run-length encoded on a thread of their own
/// (a `MailboxThread`, at most 16 MiB waiting), so whoever stitches goes on with the next
/// tiles meanwhile; `finish` waits for it.
public final class SegmentationOutput: @unchecked Sendable {
    public let width: Int
    public let height: Int
    private let threshold: UInt16
    private let mask: TiledImageWriter
    private let probabilities: TiledImageWriter?
    /// Foreground pixels written so far.
    public private(set) var foreground = 0
    private var runEncoder: RowRunEncoder
    private let maskWriter = MailboxThread<() throws -> Void>(name: "mask writer", capacity: 16 << 20, accountsCPU: true) { try $0() }
    private let maskPath: String
    private let micronsPerPixel: Double?
    private let cleanup: MaskCleanup
    /// The runs after cleanup, once finished with one.
    private var cleanedRuns: [RLE.Run]?

    public init(
        width: Int, height: Int, threshold: Double, maskPath: String, probabilityPath: String? = nil, micronsPerPixel: Double? = nil,
        cleanup: MaskCleanup = MaskCleanup()
    ) throws {
        self.width = width
        self.height = height
        self.maskPath = maskPath
        self.micronsPerPixel = micronsPerPixel
        self.cleanup = cleanup
        self.threshold = Probability.threshold(threshold)
        runEncoder = RowRunEncoder(width: width, height: height)
        // Level 1: a 0/255 mask compresses almost as well, in a fraction of the time.
        mask = try TiledImageWriter(
            path: maskPath, width: width, height: height, channels: 1, micronsPerPixel: micronsPerPixel,
            deflateLevel: 1)
        probabilities = try probabilityPath.map {
            try TiledImageWriter(path: $0, width: width, height: height, channels: 1, micronsPerPixel: micronsPerPixel)
        }
    }

    /// Appends whole rows of fixed-point probabilities.
    public func append(_ rows: [UInt16]) throws {
        var bytes = [UInt8](repeating: 0, count: rows.count)
        var count = 0
        for i in rows.indices where rows[i] >= threshold {
            bytes[i] = 255
            count += 1
        }
        foreground += count
        try writeMask(bytes)
        if let probabilities {
            for i in rows.indices { bytes[i] = Probability.toByte(rows[i]) }
            try probabilities.append(rows: bytes)
        }
    }

    /// Appends every row `stitcher` has made final since the last call. Without a
    /// probability map to write, the stitcher thresholds the rows itself (the same mask,
    /// without computing probabilities).
    public func appendFinishedRows(of stitcher: Stitcher) throws {
        if probabilities == nil {
            while let rows = stitcher.takeFinishedMaskRows(threshold: threshold) {
                foreground += rows.foreground
                try writeMask(rows.mask)
            }
        } else {
            while let rows = stitcher.takeFinishedRows() { try append(rows.probabilities) }
        }
    }

    // The writer's thread holds the writer: without this it would wait for work forever.
    deinit { maskWriter.stop(wait: false) }

    /// Hands mask rows to the writer thread.
    private func writeMask(_ rows: [UInt8]) throws {
        try maskWriter.post(
            { [self] in
                try mask.append(rows: rows)
                runEncoder.append(rows: rows)
            }, cost: rows.count)
    }

    /// Writes the last bands; every row must have been appended. With a cleanup, the mask
    /// is then written again from its cleaned runs when they differ (the probability map
    /// keeps every pixel's probability).
    public func finish() throws {
        try maskWriter.drain()
        try mask.finish()
        try probabilities?.finish()
        guard cleanup.isActive else { return }
        let original = runEncoder.finish()
        let cleaned = cleanup.apply(original, width: width, height: height)
        cleanedRuns = cleaned
        guard cleaned != original else { return }
        foreground = cleaned.reduce(0) { $0 + $1.length }
        try MaskFiles.write(cleaned, width: width, height: height, to: maskPath, micronsPerPixel: micronsPerPixel)
    }

    /// The mask's competition runs (`RLE`); every row must have been appended.
    public func runs() -> [RLE.Run] { cleanedRuns ?? runEncoder.finish() }
}
