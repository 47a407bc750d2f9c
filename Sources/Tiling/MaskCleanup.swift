import Core

/// Post-processing of a mask's objects, on its competition runs (no pixel array): objects
/// (4-connected foreground, as scikit-image's `remove_small_objects`) smaller than
/// `minimumObjectArea` pixels are removed, then holes (4-connected background not touching
/// the image's edge, as `remove_small_holes`) smaller than `holeArea` are filled. Runs are
/// column-major (HuBMAP's numbering), so the labelling sweeps columns; 4-connectivity is the
/// same either way.
public struct MaskCleanup: Sendable, Equatable {
    public var minimumObjectArea: Int
    public var holeArea: Int

    public init(minimumObjectArea: Int = 0, holeArea: Int = 0) {
        self.minimumObjectArea = minimumObjectArea
        self.holeArea = holeArea
    }

    public var isActive: Bool { minimumObjectArea > 1 || holeArea > 1 }

    /// A vertical stretch of one value in column `x`: rows `y0 ..< y1`.
    package struct Segment: Equatable { package let x: Int; package let y0: Int; package let y1: Int }

    /// `runs` (of a `width` × `height` mask) cleaned as the settings say.
    public func apply(_ runs: [RLE.Run], width: Int, height: Int) -> [RLE.Run] {
        guard isActive, width > 0, height > 0 else { return runs }
        var foreground = Self.segments(of: runs, height: height)
        if minimumObjectArea > 1 {
            let (labels, areas, _) = Self.label(foreground, width: width, height: height)
            foreground = zip(foreground, labels).filter { areas[$0.1] >= minimumObjectArea }.map(\.0)
        }
        if holeArea > 1 {
            let background = Self.complement(foreground, width: width, height: height)
            let (labels, areas, edge) = Self.label(background, width: width, height: height)
            let filled = zip(background, labels).filter { !edge[$0.1] && areas[$0.1] < holeArea }.map(\.0)
            foreground = (foreground + filled).sorted { ($0.x, $0.y0) < ($1.x, $1.y0) }
        }
        return Self.runs(of: foreground, height: height)
    }

    /// The runs cut at column ends, in order.
    package static func segments(of runs: [RLE.Run], height: Int) -> [Segment] {
        var out: [Segment] = []
        for run in runs {
            var index = run.start - 1, left = run.length
            while left > 0 {
                let x = index / height, y = index % height, length = min(left, height - y)
                out.append(Segment(x: x, y0: y, y1: y + length))
                index += length
                left -= length
            }
        }
        return out
    }

    /// The background segments of a column-ordered foreground.
    static func complement(_ segments: [Segment], width: Int, height: Int) -> [Segment] {
        var out: [Segment] = [], i = 0
        for x in 0..<width {
            var y = 0
            while i < segments.count && segments[i].x == x {
                if segments[i].y0 > y { out.append(Segment(x: x, y0: y, y1: segments[i].y0)) }
                y = segments[i].y1
                i += 1
            }
            if y < height { out.append(Segment(x: x, y0: y, y1: height)) }
        }
        return out
    }

    /// 4-connected components of column-ordered segments: each segment's component, each
    /// component's area, and whether it touches the image's edge.
    package static func label(_ segments: [Segment], width: Int, height: Int) -> (labels: [Int], areas: [Int], edge: [Bool]) {
        var parent = Array(segments.indices)
        func find(_ i: Int) -> Int {
            var i = i
            while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
            return i
        }
        // Segments of neighbouring columns that share a row are joined.
        var previous = 0..<0, start = 0
        while start < segments.count {
            var end = start
            while end < segments.count && segments[end].x == segments[start].x { end += 1 }
            let current = start..<end
            if let p = previous.first, segments[p].x == segments[start].x - 1 {
                var a = previous.lowerBound, b = current.lowerBound
                while a < previous.upperBound && b < current.upperBound {
                    if segments[a].y0 < segments[b].y1 && segments[b].y0 < segments[a].y1 {
                        let ra = find(a), rb = find(b)
                        if ra != rb { parent[max(ra, rb)] = min(ra, rb) }
                    }
                    if segments[a].y1 < segments[b].y1 { a += 1 } else { b += 1 }
                }
            }
            previous = current
            start = end
        }
        var labels = [Int](repeating: 0, count: segments.count), index: [Int: Int] = [:]
        var areas: [Int] = [], edge: [Bool] = []
        for i in segments.indices {
            let root = find(i)
            let label =
                index[root]
                ?? {
                    index[root] = areas.count; areas.append(0); edge.append(false); return areas.count - 1
                }()
            labels[i] = label
            let s = segments[i]
            areas[label] += s.y1 - s.y0
            if s.x == 0 || s.x == width - 1 || s.y0 == 0 || s.y1 == height { edge[label] = true }
        }
        return (labels, areas, edge)
    }

    /// Column-ordered segments as runs, joined where one column's ends at the bottom and
    /// the next one's starts at the top (the numbering runs on).
    static func runs(of segments: [Segment], height: Int) -> [RLE.Run] {
        var out: [RLE.Run] = []
        for s in segments {
            let start = s.x * height + s.y0 + 1, length = s.y1 - s.y0
            if let last = out.last, last.start + last.length == start {
                out[out.count - 1].length += length
            } else {
                out.append(RLE.Run(start: start, length: length))
            }
        }
        return out
    }
}
