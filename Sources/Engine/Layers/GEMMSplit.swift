/// How a (grouped) GEMM is cut into tasks; a function of the shape alone, so the result
/// is the same whatever the thread count. Large maps are cut into blocks of output pixels
/// whose im2col block stays within a few MB; small maps (deep layers) into blocks of
/// output channels.
struct GEMMSplit {
    let groups: Int
    let rowBlocks: [Range<Int>]
    let columnBlocks: [Range<Int>]

    init(rows: Int, columns: Int, depth: Int, groups: Int) {
        self.groups = groups
        // About 2 MB of im2col per block, between 256 and 4096 pixels.
        let width = min(max((1 << 19) / max(depth, 1), 256), 4096)
        let columnCount = max(1, (columns + width - 1) / width)
        // Too few blocks to share out: cut the output channels too, in multiples of 16.
        let rowCount = groups * columnCount >= 4 ? 1 : max(1, min(4 / (groups * columnCount), rows / 16))
        columnBlocks = Self.blocks(columns, count: columnCount, multiple: 16)
        rowBlocks = Self.blocks(rows, count: rowCount, multiple: 16)
    }

    /// The split for the engine's own GEMM (`PointwiseGEMM`), whose bits no split changes:
    /// blocks of near-equal size, so the threads' last tasks end close together (three
    /// column blocks on two threads, or row blocks of 96, 96, 96 and 16, had left one thread
    /// idle a quarter of the time or more). Columns are cut into `tasks` blocks wherever
    /// each still holds a whole column group of the GEMM, which streams the weights once a
    /// group (256 columns, fewer the deeper the layer): such cuts cost nothing. Else output
    /// channels, in whole 12-row weight blocks, into about four.
    static func packed(rows: Int, columns: Int, depth: Int, groups: Int, tasks: Int = 8) -> GEMMSplit {
        let width = min(max((1 << 19) / max(depth, 1), 256), 4096)
        // PointwiseGEMM's column group.
        let group = max(32, min(256, (1 << 16) / max(depth, 1) / 32 * 32))
        let columnCount = max((columns + width - 1) / width, columns >= tasks * group ? tasks : 1)
        let columnBlocks = blocks(columns, count: columnCount, multiple: 32)
        let perRow = groups * columnBlocks.count
        let rowCount = perRow >= 4 ? 1 : max(1, min((4 + perRow - 1) / perRow, rows / 12))
        return GEMMSplit(groups: groups, rowBlocks: blocks(rows, count: rowCount, multiple: 12), columnBlocks: columnBlocks)
    }

    private init(groups: Int, rowBlocks: [Range<Int>], columnBlocks: [Range<Int>]) {
        self.groups = groups
        self.rowBlocks = rowBlocks
        self.columnBlocks = columnBlocks
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
