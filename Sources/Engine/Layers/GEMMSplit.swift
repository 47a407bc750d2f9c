/// How a (grouped) GEMM is cut into tasks; a function of the shape alone, so the result
/// is the same whatever the thread count. Large maps are cut into blocks of output pixels
/// whose im2col block stays within a few MB; small maps (deep layers) into blocks of
/// output channels.
struct GEMMSplit {
    let groups: Int
    let rowBlocks: [Range<Int>]
    let columnBlocks: [Range<Int>]

    /// `rowMultiple`: where blocks of output channels may start.
    init(rows: Int, columns: Int, depth: Int, groups: Int, rowMultiple: Int = 16) {
        self.groups = groups
        // About 2 MB of im2col per block, between 256 and 4096 pixels.
        let width = min(max((1 << 19) / max(depth, 1), 256), 4096)
        let columnCount = max(1, (columns + width - 1) / width)
        // Too few blocks to share out: cut the output channels too, in multiples of 16.
        let rowCount = groups * columnCount >= 4 ? 1 : max(1, min(4 / (groups * columnCount), rows / 16))
        columnBlocks = Self.blocks(columns, count: columnCount, multiple: 16)
        rowBlocks = Self.blocks(rows, count: rowCount, multiple: rowMultiple)
    }

    var count: Int { groups * rowBlocks.count * columnBlocks.count }

    func task(_ index: Int) -> (group: Int, rows: Range<Int>, columns: Range<Int>) {
        let perGroup = rowBlocks.count * columnBlocks.count
        let within = index % perGroup
        return (index / perGroup, rowBlocks[within / columnBlocks.count], columnBlocks[within % columnBlocks.count])
    }

    /// `count` consecutive ranges covering 0..<total, inner boundaries on multiples of `multiple`.
    private static func blocks(_ total: Int, count: Int, multiple: Int) -> [Range<Int>] {
        guard count > 1 else { return [0..<total] }
        let size = ((total + count - 1) / count + multiple - 1) / multiple * multiple
        return stride(from: 0, to: total, by: size).map { $0..<min($0 + size, total) }
    }
}
