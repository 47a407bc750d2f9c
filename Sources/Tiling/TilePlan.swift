import Core

/// One tile of a plan: its row and column in the grid of tiles.
public struct TileIndex: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let row: Int
    public let column: Int

    public init(row: Int, column: Int) {
        self.row = row
        self.column = column
    }

    public static func < (a: TileIndex, b: TileIndex) -> Bool {
        (a.row, a.column) < (b.row, b.column)
    }

    public var description: String { "tile (\(row), \(column))" }
}

/// How a slide is cut into model inputs: the "expansion tile" geometry.
///
/// A tile is `tileSize` pixels square; its centre, `tileSize - 2 × margin` pixels, is what
/// the tile is chiefly there to predict, and the margin around it is context. Tiles step by
/// `stride` (at most the centre, so centres cover every pixel); tile (r, c) starts at
/// (c × stride − margin, r × stride − margin). Tiles running past the slide read reflected
/// pixels (`SlideReader`), so a slide smaller than one tile works too.
public struct TilePlan: Sendable, Equatable {
    public let imageWidth: Int
    public let imageHeight: Int
    /// The model's input side, T.
    public let tileSize: Int
    /// Context around the kept centre, E.
    public let margin: Int
    /// Distance between neighbouring tiles' origins.
    public let stride: Int
    /// Tiles across and down.
    public let columns: Int
    public let rows: Int

    /// Plans tiles for an image; `stride` defaults to the centre `tileSize - 2 × margin`.
    public init(imageWidth: Int, imageHeight: Int, tileSize: Int, margin: Int, stride: Int? = nil) throws {
        guard imageWidth > 0, imageHeight > 0 else {
            throw TesseraError("tiling", "the image is empty (\(imageWidth)×\(imageHeight))")
        }
        guard tileSize > 0 else { throw TesseraError("tiling", "tile size must be positive, not \(tileSize)") }
        guard margin >= 0, 2 * margin < tileSize else {
            throw TesseraError("tiling", "margin \(margin) leaves no centre in a \(tileSize)-pixel tile (it must be below \(tileSize / 2))")
        }
        let centre = tileSize - 2 * margin
        let stride = stride ?? centre
        guard stride >= 1, stride <= centre else {
            throw TesseraError("tiling", "stride \(stride) must be between 1 and the tile's centre \(centre), or pixels would be left out")
        }
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.tileSize = tileSize
        self.margin = margin
        self.stride = stride
        columns = Self.count(imageWidth, centre: centre, stride: stride)
        rows = Self.count(imageHeight, centre: centre, stride: stride)
    }

    /// Tiles needed so that the last centre reaches the end: 1 + ⌈(n − centre) / stride⌉.
    private static func count(_ length: Int, centre: Int, stride: Int) -> Int {
        length <= centre ? 1 : 1 + (length - centre + stride - 1) / stride
    }

    /// The centre's side.
    public var centre: Int { tileSize - 2 * margin }

    /// All tiles.
    public var tileCount: Int { rows * columns }

    /// The slide position of a tile's top-left pixel (possibly negative).
    public func origin(of tile: TileIndex) -> (x: Int, y: Int) {
        (tile.column * stride - margin, tile.row * stride - margin)
    }

    /// Every tile, row by row.
    public var tiles: [TileIndex] {
        (0..<rows).flatMap { row in (0..<columns).map { TileIndex(row: row, column: $0) } }
    }

    /// Tiles of one row, left to right.
    public func tiles(inRow row: Int) -> [TileIndex] {
        (0..<columns).map { TileIndex(row: row, column: $0) }
    }

    /// Whether `tile` belongs to the plan.
    public func contains(_ tile: TileIndex) -> Bool {
        (0..<rows).contains(tile.row) && (0..<columns).contains(tile.column)
    }
}
