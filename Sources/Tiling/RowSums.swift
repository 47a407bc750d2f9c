import Core

/// The stitcher's weighted sums for one slide row, zeroed a chunk of columns at a time
/// when a tile first adds to it.
///
/// A tile row's sums span the slide's width (12–25 MB for 384 rows of 8192 pixels), so
/// sums zeroed when the row was created had left the cache by the time a tile added to
/// them, and every add waited on memory. Zeroed just before the first add, a chunk is still
/// in cache for it. `Sum` is Int32 when the stitcher can prove every sum fits, which halves
/// the memory the sums pass through; Int64 otherwise.
final class RowSums<Sum: FixedWidthInteger & SignedInteger> {
    /// Columns zeroed together.
    static var chunk: Int { 256 }

    let width: Int
    private let values: UnsafeMutablePointer<Sum>
    private var zeroed: [Bool]

    init(width: Int) {
        self.width = width
        values = .allocate(capacity: max(1, width))
        zeroed = Array(repeating: false, count: (width + Self.chunk - 1) / Self.chunk)
    }

    deinit { values.deallocate() }

    /// The sums with `columns` ready to add to: every chunk they meet is zeroed unless it
    /// already holds sums.
    @inline(__always)
    func prepared(_ columns: Range<Int>) -> UnsafeMutablePointer<Sum> {
        guard !columns.isEmpty else { return values }
        for chunk in (columns.lowerBound / Self.chunk)...((columns.upperBound - 1) / Self.chunk) where !zeroed[chunk] {
            let start = chunk * Self.chunk
            (values + start).initialize(repeating: 0, count: min(Self.chunk, width - start))
            zeroed[chunk] = true
        }
        return values
    }

    /// Every sum of the row, zero where no tile added.
    func all() -> UnsafeBufferPointer<Sum> {
        UnsafeBufferPointer(start: prepared(0..<width), count: width)
    }
}
