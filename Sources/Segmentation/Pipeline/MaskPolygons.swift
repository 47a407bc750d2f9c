import Core
import Foundation
import Tiling

/// A mask's objects as polygons: each 4-connected object's outer boundary and its holes,
/// traced along pixel edges (vertices are pixel corners, in slide pixel coordinates), from
/// the mask's runs (no pixel array). Rings run with the object on their right in image
/// coordinates (y down): outer rings have a positive shoelace area, counter-clockwise as
/// RFC 7946 asks when read as x right, y up; holes the other way. Where two pixels of an
/// object touch only at a corner the boundary turns right, so they stay apart, as
/// 4-connectivity says.
public enum MaskPolygons {
    public typealias Point = (x: Int, y: Int)

    /// One object: its outer ring, then its holes; each ring closed (last point = first).
    public struct Polygon: Sendable {
        public var rings: [[Point]]
        public var area: Int
    }

    /// The polygons of the objects of a `width` × `height` mask with `runs`, in the order
    /// of their first pixel (column-major).
    public static func polygons(_ runs: [RLE.Run], width: Int, height: Int) -> [Polygon] {
        let segments = MaskCleanup.segments(of: runs, height: height)
        let (labels, areas, _) = MaskCleanup.label(segments, width: width, height: height)
        // Directed boundary edges, each tagged with its object: start → end.
        var edges: [(from: Point, to: Point, label: Int)] = []
        var columnStart = 0
        var starts: [Int: Int] = [:]  // column → index of its first segment
        for (i, s) in segments.enumerated() where starts[s.x] == nil { starts[s.x] = i }
        func column(_ x: Int) -> ArraySlice<MaskCleanup.Segment> {
            guard let first = starts[x] else { return [] }
            var end = first
            while end < segments.count && segments[end].x == x { end += 1 }
            return segments[first..<end]
        }
        var index = 0
        while index < segments.count {
            let x = segments[index].x
            let own = column(x), left = column(x - 1), right = column(x + 1)
            for (offset, s) in own.enumerated() {
                let label = labels[columnStart + offset]
                edges.append(((x, s.y0), (x + 1, s.y0), label))  // top
                edges.append(((x + 1, s.y1), (x, s.y1), label))  // bottom
                for (y0, y1) in uncovered(s, by: right) { edges.append(((x + 1, y0), (x + 1, y1), label)) }  // right, downwards
                for (y0, y1) in uncovered(s, by: left) { edges.append(((x, y1), (x, y0), label)) }  // left, upwards
            }
            index += own.count
            columnStart = index
        }
        // Chain: at each corner, outgoing edges; where two leave, take the right turn.
        var outgoing: [Int: [Int]] = [:]
        func key(_ p: Point) -> Int { p.y * (width + 1) + p.x }
        for (i, e) in edges.enumerated() { outgoing[key(e.from), default: []].append(i) }
        var used = [Bool](repeating: false, count: edges.count)
        var rings: [Int: [[Point]]] = [:]
        for first in edges.indices where !used[first] {
            var ring: [Point] = [edges[first].from]
            var current = first
            while !used[current] {
                used[current] = true
                let e = edges[current]
                ring.append(e.to)
                let candidates = (outgoing[key(e.to)] ?? []).filter { !used[$0] }
                guard let next = candidates.count <= 1 ? candidates.first : rightTurn(from: e, among: candidates, edges: edges) else { break }
                current = next
            }
            rings[edges[first].label, default: []].append(simplified(ring))
        }
        return rings.keys.sorted().map { label in
            let traced = rings[label]!
            // The outer ring is the one of positive area; holes after it.
            let ordered = traced.sorted { shoelace($0) > shoelace($1) }
            return Polygon(rings: ordered, area: areas[label])
        }
    }

    /// The parts of segment `s`'s rows that no segment of a neighbouring column covers.
    static func uncovered(_ s: MaskCleanup.Segment, by neighbours: ArraySlice<MaskCleanup.Segment>) -> [(Int, Int)] {
        var out: [(Int, Int)] = [], y = s.y0
        for n in neighbours where n.y1 > y && n.y0 < s.y1 {
            if n.y0 > y { out.append((y, n.y0)) }
            y = max(y, n.y1)
        }
        if y < s.y1 { out.append((y, s.y1)) }
        return out
    }

    /// Of edges leaving the end of `e`, the one turning right (image coordinates, y down).
    static func rightTurn(
        from e: (from: Point, to: Point, label: Int), among candidates: [Int],
        edges: [(from: Point, to: Point, label: Int)]
    ) -> Int {
        let dx = e.to.x - e.from.x, dy = e.to.y - e.from.y
        for c in candidates {
            let nx = edges[c].to.x - edges[c].from.x, ny = edges[c].to.y - edges[c].from.y
            // Right of (dx, dy) with y down is (−dy, dx) scaled.
            if nx.signum() == (-dy).signum() && ny.signum() == dx.signum() { return c }
        }
        return candidates[0]
    }

    /// Collinear points dropped.
    static func simplified(_ ring: [Point]) -> [Point] {
        guard ring.count > 3 else { return ring }
        var out: [Point] = [ring[0]]
        for i in 1..<(ring.count - 1) {
            let a = out.last!, b = ring[i], c = ring[i + 1]
            if (b.x - a.x) * (c.y - b.y) == (b.y - a.y) * (c.x - b.x) { continue }
            out.append(b)
        }
        out.append(ring.last!)
        // The closing point may sit mid-edge: rotate so the ring starts at a corner.
        if out.count > 4 {
            let a = out[out.count - 2], b = out[0], c = out[1]
            if (b.x - a.x) * (c.y - b.y) == (b.y - a.y) * (c.x - b.x) {
                out.removeFirst()
                out[out.count - 1] = out[0]
            }
        }
        return out
    }

    /// Twice the signed area (x right, y down: positive for the rings' outer orientation).
    static func shoelace(_ ring: [Point]) -> Int {
        zip(ring, ring.dropFirst()).reduce(0) { $0 + $1.0.x * $1.1.y - $1.1.x * $1.0.y }
    }

    /// Writes the polygons as a GeoJSON FeatureCollection that QuPath imports: one Polygon
    /// feature an object, an annotation of class `classification`, with its area in pixels;
    /// written feature by feature.
    public static func writeGeoJSON(_ polygons: [Polygon], classification: String, to path: String) throws {
        let handle = try PartialFile(for: path)
        let name = String(decoding: try JSONEncoder().encode(classification), as: UTF8.self)
        try handle.append(Data("{\"type\":\"FeatureCollection\",\"features\":[".utf8))
        for (i, polygon) in polygons.enumerated() {
            let rings = polygon.rings.map { "[" + $0.map { "[\($0.x),\($0.y)]" }.joined(separator: ",") + "]" }.joined(separator: ",")
            let feature =
                (i == 0 ? "" : ",") + "\n{\"type\":\"Feature\",\"geometry\":{\"type\":\"Polygon\",\"coordinates\":[\(rings)]},"
                + "\"properties\":{\"objectType\":\"annotation\",\"classification\":{\"name\":\(name),\"color\":[0,200,0]},\"area\":\(polygon.area)}}"
            try handle.append(Data(feature.utf8))
        }
        try handle.append(Data("\n]}\n".utf8))
        try handle.commit()
    }
}
