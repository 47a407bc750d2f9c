import Core

/// Blends tile probability maps of one or more ensemble members into slide rows.
///
/// Every contribution is an integer, w(i)·w(j)·memberWeight·p with p in fixed point, summed
/// in Int64 — or in Int32 when every sum provably fits, as with the constant window; the
/// normaliser Σ w(i)·w(j)·memberWeight is known from the plan alone. Integer addition is
/// exact and commutative, so the result is bit-identical whatever order the tiles arrive
/// in. Window and member weights are first divided by their greatest common divisors: the
/// rounded quotient of two integers scaled alike does not change, and the sums shrink.
/// Rows are handed out as soon as no unfinished tile can touch them, so memory is bounded
/// by the rows of the tile rows in flight, never by the slide.
public final class Stitcher {
    public let plan: TilePlan
    public let window: BlendWindow
    /// Integer weight of each member in the ensemble average.
    public let memberWeights: [Int]

    /// The window's weights and the members', each divided by its greatest common divisor.
    private let weights: [Int]
    private let memberScale: [Int64]
    /// The span of tile columns (and rows) whose weight is not zero.
    private let weightSpan: Range<Int>
    /// Σ of window weights over the tiles covering each column (resp. row).
    private let columnNorm: [Int64]
    private let rowNorm: [Int64]
    /// 1 / columnNorm, for the quotient's estimate.
    private let columnReciprocal: [Double]
    private let memberWeightSum: Int64
    /// Members still owed, per tile; a tile is finished when none is.
    private var pending: [TileIndex: Set<Int>] = [:]
    /// Unfinished tiles per tile row.
    private var unfinishedInRow: [Int]
    /// Weighted sums for rows not yet handed out, by row: `narrowSums` when every sum fits
    /// in Int32 (`isNarrow`), else `wideSums`.
    private var wideSums: [Int: RowSums<Int64>] = [:]
    private var narrowSums: [Int: RowSums<Int32>] = [:]
    /// Whether 2 × 65535 × the largest norm, the largest value the mask test forms from a
    /// sum, is below 2³¹.
    let isNarrow: Bool
    /// The first row not yet handed out.
    public private(set) var nextRow = 0

    /// - Parameters:
    ///   - memberWeights: one positive integer weight per member (at most 1024).
    ///   - allowingNarrowSums: false keeps Int64 sums even where Int32 ones are exact (tests
    ///     compare the two).
    public init(plan: TilePlan, window: BlendWindow, memberWeights: [Int] = [1], allowingNarrowSums: Bool = true) throws {
        guard !memberWeights.isEmpty, memberWeights.allSatisfy({ (1...1024).contains($0) }) else {
            throw TesseraError("ensemble", "member weights must be whole numbers from 1 to 1024, not \(memberWeights)")
        }
        self.plan = plan
        self.window = window
        self.memberWeights = memberWeights
        weights = Self.reduced(window.weights(tileSize: plan.tileSize, margin: plan.margin))
        memberScale = Self.reduced(memberWeights).map(Int64.init)
        let first = weights.firstIndex { $0 != 0 } ?? 0, last = weights.lastIndex { $0 != 0 } ?? -1
        weightSpan = first..<(last + 1)
        columnNorm = Self.norm(length: plan.imageWidth, count: plan.columns, plan: plan, weights: weights)
        rowNorm = Self.norm(length: plan.imageHeight, count: plan.rows, plan: plan, weights: weights)
        columnReciprocal = columnNorm.map { 1 / Double($0) }
        memberWeightSum = memberScale.reduce(0, +)
        unfinishedInRow = Array(repeating: plan.columns, count: plan.rows)
        if let zero = columnNorm.firstIndex(of: 0) ?? rowNorm.firstIndex(of: 0) {
            throw TesseraError("tiling", "pixel \(zero) gets no weight from any tile with the \(window.rawValue) window")
        }
        // Sums of up to 65535 × norm must stay exact in Int64 (see roundedQuotient).
        let largestNorm = Double(columnNorm.max()!) * Double(rowNorm.max()!) * Double(memberWeightSum)
        guard largestNorm < 0x1p46 else {
            throw TesseraError(
                "tiling",
                "tiles overlap too much (stride \(plan.stride) of \(plan.tileSize)) for exact stitching with member weights \(memberWeights): use a larger stride or smaller weights",
                code: .malformed)
        }
        isNarrow = allowingNarrowSums && 2 * 65535 * largestNorm + 1 < 0x1p31
    }

    /// `values` divided by the greatest common divisor of those that are not zero.
    private static func reduced(_ values: [Int]) -> [Int] {
        func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
        let divisor = values.reduce(0) { gcd($0, $1) }
        return divisor > 1 ? values.map { $0 / divisor } : values
    }

    private static func norm(length: Int, count: Int, plan: TilePlan, weights: [Int]) -> [Int64] {
        var norm = [Int64](repeating: 0, count: length)
        for index in 0..<count {
            let start = index * plan.stride - plan.margin
            for i in 0..<plan.tileSize where (0..<length).contains(start + i) {
                norm[start + i] += Int64(weights[i])
            }
        }
        return norm
    }

    /// Whether every tile has been added for every member.
    public var isComplete: Bool { nextRow == plan.imageHeight }

    /// Whether `member`'s map of `tile` was already added.
    public func hasContribution(tile: TileIndex, member: Int) -> Bool {
        guard plan.contains(tile) else { return false }
        if unfinishedInRow[tile.row] == 0 { return true }
        if let owed = pending[tile] { return !owed.contains(member) }
        return finished.contains(tile)
    }

    /// Finished tiles of tile rows that still have unfinished ones.
    private var finished: Set<TileIndex> = []

    /// Adds `member`'s probability map of `tile`: `tileSize²` fixed-point values, row-major.
    ///
    /// Throws when the tile or member is not in the plan, the map has the wrong size, or the
    /// same contribution was already added (a duplicate would change the result).
    public func add(tile: TileIndex, member: Int, map: UnsafeBufferPointer<UInt16>) throws {
        try check(tile: tile, member: member, values: map.count)
        accumulate(tile: tile, member: member) { Int64(map[$0]) }
        markAdded(tile: tile, member: member)
    }

    /// Adds a map as it travels (`MapEncoding`), decoding each value as it is summed. With
    /// an `inset` the map covers only the tile's central (T − 2·inset)² square; the window
    /// must give the pixels left out no weight.
    public func add(tile: TileIndex, member: Int, encoded map: UnsafeBufferPointer<UInt8>, encoding: MapEncoding, inset: Int = 0) throws {
        guard map.count % encoding.bytesPerPixel == 0 else {
            throw TesseraError("stitching", "\(tile): a \(encoding.name) map of \(map.count) bytes")
        }
        let size = plan.tileSize, side = size - 2 * inset
        guard inset >= 0, side >= 1, inset <= weightSpan.lowerBound, size - inset >= weightSpan.upperBound else {
            throw TesseraError("stitching", "\(tile): a map inset by \(inset) pixels leaves out pixels the \(window.rawValue) window weighs")
        }
        try check(tile: tile, member: member, values: map.count / encoding.bytesPerPixel, inset: inset)
        switch encoding {
        case .uint8:
            accumulate(tile: tile, member: member, inset: inset) { Int64(MapEncoding.byteValue(map, $0)) }
        case .float16:
            HalfFloat.fixedTable.withUnsafeBufferPointer { table in
                accumulate(tile: tile, member: member, inset: inset) { Int64(MapEncoding.halfValue(map, $0, table)) }
            }
        }
        markAdded(tile: tile, member: member)
    }

    /// Adds `member`'s map of `tile` where it is 0 everywhere (a tile over glass): what
    /// adding such a map does, without its pass over the sums, which zeros leave unchanged.
    public func addZeros(tile: TileIndex, member: Int) throws {
        try check(tile: tile, member: member, values: plan.tileSize * plan.tileSize)
        markAdded(tile: tile, member: member)
    }

    private func check(tile: TileIndex, member: Int, values: Int, inset: Int = 0) throws {
        let size = plan.tileSize - 2 * inset
        guard plan.contains(tile) else { throw TesseraError("stitching", "\(tile) is not in the plan", code: .notFound) }
        guard memberWeights.indices.contains(member) else { throw TesseraError("stitching", "no member \(member)", code: .notFound) }
        guard values == size * size else {
            throw TesseraError("stitching", "\(tile): a map of \(values) values, not \(size)×\(size)")
        }
        guard !hasContribution(tile: tile, member: member) else {
            throw TesseraError("stitching", "\(tile) member \(member) was already added")
        }
    }

    /// Adds w(i)·w(j)·memberWeight·value((j − inset)·side + i − inset) to the sums of every
    /// pixel the tile gives weight to, for a map of side T − 2·inset (the whole tile with
    /// no inset).
    @inline(__always)
    private func accumulate(tile: TileIndex, member: Int, inset: Int = 0, _ value: (Int) -> Int64) {
        if isNarrow {
            accumulate(into: &narrowSums, tile: tile, member: member, inset: inset, value)
        } else {
            accumulate(into: &wideSums, tile: tile, member: member, inset: inset, value)
        }
    }

    @inline(__always)
    private func accumulate<Sum>(into sums: inout [Int: RowSums<Sum>], tile: TileIndex, member: Int, inset: Int, _ value: (Int) -> Int64) {
        let side = plan.tileSize - 2 * inset, shift = inset * side + inset
        let (originX, originY) = plan.origin(of: tile)
        let memberWeight = memberScale[member]
        let x0 = max(weightSpan.lowerBound, -originX), x1 = min(weightSpan.upperBound, plan.imageWidth - originX)
        let y0 = max(weightSpan.lowerBound, -originY), y1 = min(weightSpan.upperBound, plan.imageHeight - originY)
        weights.withUnsafeBufferPointer { w in
            for j in y0..<max(y0, y1) where w[j] != 0 {
                let y = originY + j
                let rowWeight = Int64(w[j]) * memberWeight
                let row: RowSums<Sum>
                if let existing = sums[y] { row = existing } else { row = RowSums(width: plan.imageWidth); sums[y] = row }
                let target = row.prepared((originX + x0)..<(originX + max(x0, x1))) + originX, first = j &* side &- shift
                for i in x0..<max(x0, x1) {
                    // Exact: with narrow sums every product and sum fits in Int32.
                    target[i] &+= Sum(truncatingIfNeeded: rowWeight &* Int64(w[i]) &* value(first &+ i))
                }
            }
        }
    }

    private func markAdded(tile: TileIndex, member: Int) {
        var owed = pending[tile] ?? Set(memberWeights.indices)
        owed.remove(member)
        if owed.isEmpty {
            pending[tile] = nil
            finished.insert(tile)
            unfinishedInRow[tile.row] -= 1
            if unfinishedInRow[tile.row] == 0 { finished = finished.filter { $0.row != tile.row } }
        } else {
            pending[tile] = owed
        }
    }

    /// round(sum / norm), halves up, exactly: estimated in Double, then corrected with
    /// integer arithmetic (a 64-bit division per pixel cost more than all else).
    @inline(__always)
    static func roundedQuotient(_ sum: Int64, _ norm: Int64) -> UInt16 {
        roundedQuotient(sum, norm, reciprocal: 1 / Double(norm))
    }

    /// The same, with 1 / norm given (to within a few ulps): the estimate is then a
    /// multiplication, and the correction makes it exact whatever the reciprocal's rounding.
    @inline(__always)
    static func roundedQuotient(_ sum: Int64, _ norm: Int64, reciprocal: Double) -> UInt16 {
        // The answer is floor(target / norm), at most 65535; with norms below 2^46 no
        // product here can overflow, so the arithmetic is unchecked.
        let target = sum &+ norm / 2
        var q = Int64(min(Double(target) * reciprocal, 65536))
        while q &* norm > target { q &-= 1 }
        while (q &+ 1) &* norm <= target { q &+= 1 }
        return UInt16(clamping: q)
    }

    /// Adds a map given as an array.
    public func add(tile: TileIndex, member: Int, map: [UInt16]) throws {
        try map.withUnsafeBufferPointer { try add(tile: tile, member: member, map: $0) }
    }

    /// The end of the rows no unfinished tile can still touch: those above the first
    /// unfinished tile row's top edge.
    private var finishedEnd: Int {
        let firstUnfinished = unfinishedInRow.firstIndex(where: { $0 > 0 })
        return firstUnfinished.map { max(0, min(plan.imageHeight, $0 * plan.stride - plan.margin)) } ?? plan.imageHeight
    }

    /// Hands out the rows no unfinished tile can still touch, as fixed-point probabilities,
    /// row-major from `firstRow`. Returns nil when no new row is ready.
    public func takeFinishedRows() -> (firstRow: Int, rows: Int, probabilities: [UInt16])? {
        isNarrow ? finishedRows(from: &narrowSums) : finishedRows(from: &wideSums)
    }

    private func finishedRows<Sum>(from sums: inout [Int: RowSums<Sum>]) -> (firstRow: Int, rows: Int, probabilities: [UInt16])? {
        let width = plan.imageWidth
        let rows = takeFinished(from: &sums) { (y, row, line: UnsafeMutablePointer<UInt16>) in
            let rowScale = rowNorm[y] * memberWeightSum, rowReciprocal = 1 / Double(rowScale)
            columnNorm.withUnsafeBufferPointer { columnNorm in
                columnReciprocal.withUnsafeBufferPointer { columnReciprocal in
                    for x in 0..<width {
                        line[x] = Self.roundedQuotient(Int64(row[x]), columnNorm[x] * rowScale, reciprocal: columnReciprocal[x] * rowReciprocal)
                    }
                }
            }
        }
        return rows.map { ($0.firstRow, $0.rows, $0.values) }
    }

    /// The rows from `nextRow` to the end of the finished ones, each made from its sums by
    /// `fill(y, sums, line)` and then dropped; nil when no new row is ready.
    private func takeFinished<Sum, Value>(
        from sums: inout [Int: RowSums<Sum>],
        _ fill: (Int, UnsafeBufferPointer<Sum>, UnsafeMutablePointer<Value>) -> Void
    )
        -> (firstRow: Int, rows: Int, values: [Value])?
    {
        let end = finishedEnd, first = nextRow
        guard end > first else { return nil }
        let width = plan.imageWidth
        let values = [Value](unsafeUninitializedCapacity: (end - first) * width) { out, count in
            for y in first..<end {
                // No sums for a row: every weight on it was zero, so its sums are zero.
                let row = sums.removeValue(forKey: y) ?? RowSums(width: width)
                fill(y, row.all(), out.baseAddress! + (y - first) * width)
            }
            count = (end - first) * width
        }
        nextRow = end
        return (first, end - first, values)
    }

    /// Per column, the bound b such that a pixel is foreground exactly when 2·sum ≥ b:
    /// with N the pixel's norm, sum + ⌊N / 2⌋ ≥ t·N ⟺ 2·sum ≥ (2t − 1)·N + (N mod 2).
    /// Rows share few norms (they repeat with the stride), so bounds are kept per row norm,
    /// in `cache`, in the sums' own type: with narrow sums every bound fits in Int32
    /// (|b| ≤ 131069·N + 1 < 2³¹).
    private func maskBound<Sum: FixedWidthInteger & SignedInteger>(rowScale: Int64, cache: inout [Int64: [Sum]]) -> [Sum] {
        if let bound = cache[rowScale] { return bound }
        let factor = 2 * Int64(maskThreshold) - 1
        let bound = columnNorm.map { column -> Sum in
            let norm = column * rowScale
            return Sum(truncatingIfNeeded: factor * norm + (norm & 1))
        }
        cache[rowScale] = bound
        return bound
    }
    private var wideMaskBounds: [Int64: [Int64]] = [:]
    private var narrowMaskBounds: [Int64: [Int32]] = [:]
    /// The threshold the cached bounds are for.
    private var maskThreshold: UInt16 = 0

    /// The same rows as a mask — 255 where `takeFinishedRows` would give a probability of at
    /// least `threshold`, else 0 — with their foreground count. No quotient is needed:
    /// round(sum / norm) ≥ t exactly when sum + ⌊norm / 2⌋ ≥ t · norm, one comparison a pixel.
    public func takeFinishedMaskRows(threshold: UInt16) -> (firstRow: Int, rows: Int, mask: [UInt8], foreground: Int)? {
        if threshold != maskThreshold {
            wideMaskBounds = [:]
            narrowMaskBounds = [:]
            maskThreshold = threshold
        }
        return isNarrow
            ? finishedMaskRows(from: &narrowSums, bounds: &narrowMaskBounds)
            : finishedMaskRows(from: &wideSums, bounds: &wideMaskBounds)
    }

    private func finishedMaskRows<Sum>(
        from sums: inout [Int: RowSums<Sum>], bounds: inout [Int64: [Sum]]
    )
        -> (firstRow: Int, rows: Int, mask: [UInt8], foreground: Int)?
    {
        let width = plan.imageWidth
        var foreground = 0
        let rows = takeFinished(from: &sums) { (y, row, line: UnsafeMutablePointer<UInt8>) in
            let bound = maskBound(rowScale: rowNorm[y] * memberWeightSum, cache: &bounds)
            var background = 0
            bound.withUnsafeBufferPointer { bound in
                // Branch-free, so it vectorises: the sign of 2·sum − b says background.
                // Neither side overflows: narrow sums keep 131071·N below 2³¹, wide ones
                // keep it below 2⁶³.
                for x in 0..<width {
                    let isBackground = ((row[x] &<< 1) &- bound[x]) >> (Sum.bitWidth - 1)  // −1 or 0
                    line[x] = ~UInt8(truncatingIfNeeded: isBackground)
                    background &-= Int(truncatingIfNeeded: isBackground)
                }
            }
            foreground += width - background
        }
        return rows.map { ($0.firstRow, $0.rows, $0.values, foreground) }
    }
}
