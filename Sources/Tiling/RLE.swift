import Core

/// Run-length encoding in the HuBMAP competitions' convention.
///
/// Pixels are numbered from 1, top to bottom, then left to right (column-major: pixel
/// (x, y) of an H-row image is number x·H + y + 1); the text is space-separated pairs
/// "start length" of foreground runs, in increasing order. An empty mask is "".
public enum RLE {
    /// One foreground run: the 1-based number of its first pixel and its length.
    public struct Run: Equatable, Sendable {
        public var start: Int
        public var length: Int
        public init(start: Int, length: Int) {
            self.start = start
            self.length = length
        }
    }

    /// Builds the runs of a mask fed one column at a time, left to right. Runs continue
    /// from the bottom of one column to the top of the next, as the numbering does.
    public struct Encoder: Sendable {
        public private(set) var runs: [Run] = []
        private var position = 1
        private var runStart: Int?

        public init() {}

        /// Feeds the next column, top to bottom; any non-zero value is foreground.
        public mutating func append(column: some Collection<UInt8>) {
            for value in column { step(value != 0) }
        }

        /// Feeds `count` values read `stride` apart from `start`: one column of a row-major
        /// stripe, without copying it out.
        public mutating func append(column start: UnsafePointer<UInt8>, count: Int, stride: Int) {
            for i in 0..<count { step(start[i * stride] != 0) }
        }

        @inline(__always)
        private mutating func step(_ foreground: Bool) {
            if foreground {
                if runStart == nil { runStart = position }
            } else if let start = runStart {
                runs.append(Run(start: start, length: position - start))
                runStart = nil
            }
            position += 1
        }

        /// Closes the last run and returns all runs.
        public mutating func finish() -> [Run] {
            if let start = runStart {
                runs.append(Run(start: start, length: position - start))
                runStart = nil
            }
            return runs
        }
    }

    /// The runs of an in-memory mask (first channel; non-zero is foreground).
    public static func runs(of mask: PixelImage) -> [Run] {
        var encoder = Encoder()
        var column = [UInt8](repeating: 0, count: mask.height)
        for x in 0..<mask.width {
            for y in 0..<mask.height { column[y] = mask[x, y, 0] }
            encoder.append(column: column)
        }
        return encoder.finish()
    }

    /// The competition text of `runs`.
    public static func text(_ runs: [Run]) -> String {
        var text = ""
        text.reserveCapacity(runs.count * 14)
        for (index, run) in runs.enumerated() {
            if index > 0 { text += " " }
            text += String(run.start)
            text += " "
            text += String(run.length)
        }
        return text
    }

    /// Parses competition text into runs, checking that they are pairs of positive whole
    /// numbers, in increasing order, not overlapping, and inside a width × height image.
    public static func parse(_ text: Substring, width: Int, height: Int) throws -> [Run] {
        let numbers = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" })
        guard numbers.count % 2 == 0 else {
            throw TesseraError("RLE", "an odd number of values (\(numbers.count)): runs are start/length pairs", code: .malformed)
        }
        let total = width * height
        var runs: [Run] = []
        runs.reserveCapacity(numbers.count / 2)
        var end = 0
        for pair in stride(from: 0, to: numbers.count, by: 2) {
            guard let start = Int(numbers[pair]), let length = Int(numbers[pair + 1]) else {
                throw TesseraError("RLE", "pair \(pair / 2 + 1) (\"\(numbers[pair]) \(numbers[pair + 1])\") is not two whole numbers", code: .malformed)
            }
            guard start >= 1, length >= 1 else {
                throw TesseraError("RLE", "pair \(pair / 2 + 1): start \(start) and length \(length) must be positive", code: .malformed)
            }
            guard start > end else {
                throw TesseraError("RLE", "pair \(pair / 2 + 1): start \(start) does not follow the previous run's end \(end)", code: .malformed)
            }
            guard length <= total - start + 1 else {
                throw TesseraError(
                    "RLE", "pair \(pair / 2 + 1): run \(start)+\(length) passes the image's \(total) pixels (\(width)×\(height))", code: .malformed)
            }
            runs.append(Run(start: start, length: length))
            end = start + length - 1
        }
        return runs
    }

    /// Paints `runs` into the rows `firstRow ..< firstRow + rows` of a width × height mask:
    /// row-major, 255 for foreground. Used to write decoded masks band by band.
    public static func paint(_ runs: [Run], width: Int, height: Int, firstRow: Int, rows: Int) -> [UInt8] {
        var band = [UInt8](repeating: 0, count: width * rows)
        let lastRow = firstRow + rows
        for run in runs {
            var index = run.start - 1
            let end = index + run.length
            while index < end {
                let x = index / height, y = index % height
                let columnEnd = min(end, (x + 1) * height)
                // The part of this column's stretch inside the band.
                let y0 = max(y, firstRow), y1 = min(y + columnEnd - index, lastRow)
                if y0 < y1 { for row in y0..<y1 { band[(row - firstRow) * width + x] = 255 } }
                index = columnEnd
            }
        }
        return band
    }

    /// Paints the part of `runs` inside the rectangle (x, y, w, h) of a width × height mask:
    /// w × h bytes, row-major, 255 for foreground. Only the runs that reach the rectangle's
    /// columns are visited (found by bisection), so a training tile costs its own runs.
    public static func paint(_ runs: [Run], width: Int, height: Int, x: Int, y: Int, w: Int, h: Int) -> [UInt8] {
        var region = [UInt8](repeating: 0, count: w * h)
        let first = x * height, last = (x + w) * height  // pixel indices (from 0) of the columns
        // The first run that ends after the region's first column begins.
        var low = 0, high = runs.count
        while low < high {
            let middle = (low + high) / 2
            if runs[middle].start - 1 + runs[middle].length <= first { low = middle + 1 } else { high = middle }
        }
        for run in runs[low...] {
            var index = max(run.start - 1, first)
            let end = min(run.start - 1 + run.length, last)
            guard index < end else { break }
            while index < end {
                let column = index / height, row = index % height
                let columnEnd = min(end, (column + 1) * height)
                let y0 = max(row, y), y1 = min(row + columnEnd - index, y + h)
                if y0 < y1 { for r in y0..<y1 { region[(r - y) * w + column - x] = 255 } }
                index = columnEnd
            }
        }
        return region
    }

    /// Decodes text into an in-memory mask (0/255).
    public static func decode(_ text: String, width: Int, height: Int) throws -> PixelImage {
        let runs = try parse(text[...], width: width, height: height)
        return PixelImage(
            width: width, height: height, channels: 1,
            pixels: paint(runs, width: width, height: height, firstRow: 0, rows: height))
    }

    /// Encodes an in-memory mask as competition text.
    public static func encode(_ mask: PixelImage) -> String { text(runs(of: mask)) }
}
