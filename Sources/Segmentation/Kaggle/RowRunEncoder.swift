import Core
import Tiling

/// Builds competition runs (column-major, `RLE`) from a mask fed row by row, top to
/// bottom, as it is written — so a segmentation has its RLE when its last row is out,
/// without reading the mask back.
///
/// Per column it keeps only where its open run started; closed runs are kept as
/// (column, first row, end row) and put into competition order once, at the end. Rows are
/// compared with the previous one as they are, eight bytes at a time (equal bytes are
/// equally foreground), so the cost is a pass over the mask plus a step per run edge.
public struct RowRunEncoder: Sendable {
    public let width: Int
    public let height: Int
    /// Rows fed so far.
    public private(set) var rows = 0
    /// Per column: the row where its open run started, or -1.
    private var openSince: [Int32]
    /// The previous row's bytes as fed (zeros before the first).
    private var previous: [UInt8]
    /// Closed runs in the order they closed.
    private var closed: [ColumnRun] = []

    private struct ColumnRun { let column: Int32; let first: Int32; let end: Int32 }

    public init(width: Int, height: Int) {
        precondition(width > 0 && height > 0 && height < Int(Int32.max), "a mask of \(width)×\(height)")
        self.width = width
        self.height = height
        openSince = Array(repeating: -1, count: width)
        previous = Array(repeating: 0, count: width)
    }

    /// Feeds whole rows, row-major; any non-zero value is foreground.
    public mutating func append(rows band: UnsafeBufferPointer<UInt8>) {
        precondition(band.count % width == 0 && rows + band.count / width <= height, "rows past the mask's \(height)")
        let width = self.width
        for start in stride(from: 0, to: band.count, by: width) {
            let y = Int32(rows)
            let current = band.baseAddress! + start
            previous.withUnsafeMutableBufferPointer { before in
                let previousRow = before.baseAddress!
                /// Opens or closes the runs of the columns in `columns` whose foreground changed.
                func edges(_ columns: Range<Int>) {
                    for x in columns where (current[x] != 0) != (previousRow[x] != 0) {
                        if current[x] != 0 {
                            openSince[x] = y
                        } else {
                            closed.append(ColumnRun(column: Int32(x), first: openSince[x], end: y))
                            openSince[x] = -1
                        }
                    }
                }
                var x = 0
                while x + 8 <= width {
                    let a = UnsafeRawPointer(current + x).loadUnaligned(as: UInt64.self)
                    let b = UnsafeRawPointer(previousRow + x).loadUnaligned(as: UInt64.self)
                    if a != b { edges(x..<(x + 8)) }
                    x += 8
                }
                edges(x..<width)
                previousRow.update(from: current, count: width)
            }
            rows += 1
        }
    }

    /// Feeds whole rows given as an array.
    public mutating func append(rows band: [UInt8]) {
        band.withUnsafeBufferPointer { append(rows: $0) }
    }

    /// The runs in competition order; every row must have been fed.
    public func finish() -> [RLE.Run] {
        precondition(rows == height, "\(rows) of \(height) rows were fed")
        var all = closed
        for x in 0..<width where openSince[x] >= 0 {
            all.append(ColumnRun(column: Int32(x), first: openSince[x], end: Int32(height)))
        }
        all.sort { ($0.column, $0.first) < ($1.column, $1.first) }
        var runs: [RLE.Run] = []
        runs.reserveCapacity(all.count)
        for run in all {
            let start = Int(run.column) * height + Int(run.first) + 1, length = Int(run.end - run.first)
            // A run reaching a column's bottom continues at the next column's top.
            if let last = runs.last, last.start + last.length == start {
                runs[runs.count - 1].length += length
            } else {
                runs.append(RLE.Run(start: start, length: length))
            }
        }
        return runs
    }
}
