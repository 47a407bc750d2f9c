/// A least-recently-used cache of decoded blocks, bounded in bytes.
struct BlockCache {
    private var blocks: [Int: (block: [UInt8], lastUse: Int)] = [:]
    private var bytes = 0
    private var clock = 0
    private(set) var capacityBytes: Int

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    /// Raises the capacity to `bytes` if it is lower.
    mutating func reserve(_ bytes: Int) { capacityBytes = max(capacityBytes, bytes) }

    mutating func block(_ index: Int) -> [UInt8]? {
        guard let entry = blocks[index] else { return nil }
        clock += 1
        blocks[index] = (entry.block, clock)
        return entry.block
    }

    mutating func insert(_ index: Int, _ block: [UInt8]) {
        clock += 1
        while bytes + block.count > capacityBytes, let oldest = blocks.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            bytes -= oldest.value.block.count
            blocks[oldest.key] = nil
        }
        blocks[index] = (block, clock)
        bytes += block.count
    }
}
