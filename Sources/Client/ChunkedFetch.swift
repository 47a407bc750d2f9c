import Core
import Shared

/// Fetching one content of a job (a mask, its RLE, a trained model) in chunks of
/// `ClusterSockets.chunkBytes`, up to four fetches outstanding: which fetches to send next,
/// and whether an arriving chunk is one of them and whole.
package struct ChunkedFetch: Equatable, Sendable {
    package let job: UInt64
    package let content: Wire.Content
    package let total: UInt64
    private var nextOffset: UInt64 = 0
    private var outstanding: Set<UInt64> = []
    package private(set) var received: UInt64 = 0

    package init(job: UInt64, content: Wire.Content, total: UInt64) {
        self.job = job
        self.content = content
        self.total = total
    }

    /// Every byte has arrived.
    package var isComplete: Bool { received == total && outstanding.isEmpty }

    /// The fetches to send now, keeping four outstanding.
    package mutating func requests() -> [Wire.Fetch] {
        var fetches: [Wire.Fetch] = []
        let chunk = UInt64(ClusterSockets.chunkBytes)
        while outstanding.count < 4 && nextOffset < total {
            let size = min(chunk, total - nextOffset)
            fetches.append(Wire.Fetch(job: job, content: content, offset: nextOffset, size: size))
            outstanding.insert(nextOffset)
            nextOffset += size
        }
        return fetches
    }

    /// Takes a chunk of `count` bytes at `offset`: false when it is not one asked for (a
    /// duplicate, or another content); an error when it holds other than what was asked.
    package mutating func accept(offset: UInt64, count: Int) throws -> Bool {
        guard outstanding.contains(offset) else { return false }
        let expected = min(UInt64(ClusterSockets.chunkBytes), total - offset)
        guard UInt64(count) == expected else {
            throw TesseraError("job \(job)", "a chunk of the \(content.rawValue) at \(offset) held \(count) bytes, not \(expected)", code: .mismatch)
        }
        outstanding.remove(offset)
        received += expected
        return true
    }
}
