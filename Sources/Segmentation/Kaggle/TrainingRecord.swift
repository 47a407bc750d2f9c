import Core
import Foundation
import Tiling

/// One row of a HuBMAP `train.csv`: a slide, its organ, size, scale and mask.
///
/// Both competitions' layouts read: the columns below are required by name, others
/// (data_source, age, sex, ...) are ignored.
public struct TrainingRecord: Sendable, Equatable {
    public var id: String
    public var organ: String
    public var imageHeight: Int
    public var imageWidth: Int
    /// µm per pixel.
    public var pixelSize: Double
    /// µm.
    public var tissueThickness: Double
    /// The mask in competition RLE text.
    public var rle: String

    public init(id: String, organ: String, imageHeight: Int, imageWidth: Int, pixelSize: Double, tissueThickness: Double, rle: String) {
        self.id = id
        self.organ = organ
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.pixelSize = pixelSize
        self.tissueThickness = tissueThickness
        self.rle = rle
    }

    /// The columns written, in the competition's order.
    public static let columns = ["id", "organ", "img_height", "img_width", "pixel_size", "tissue_thickness", "rle"]

    /// Reads every record of a train.csv, checking numbers and that each RLE fits its size.
    public static func read(_ path: String) throws -> [TrainingRecord] {
        let table = try CSVTable(contentsOf: path)
        let index = try columns.map { try table.column($0, source: path) }
        return try table.rows.enumerated().map { number, row in
            let line = "line \(number + 2)"
            func int(_ i: Int) throws -> Int {
                guard let value = Int(row[index[i]]), value > 0 else {
                    throw TesseraError(path, "\(line): \(columns[i]) \"\(row[index[i]])\" is not a positive whole number", code: .malformed)
                }
                return value
            }
            func double(_ i: Int) throws -> Double {
                guard let value = Double(row[index[i]]), value >= 0 else {
                    throw TesseraError(path, "\(line): \(columns[i]) \"\(row[index[i]])\" is not a number", code: .malformed)
                }
                return value
            }
            let record = TrainingRecord(
                id: row[index[0]], organ: row[index[1]], imageHeight: try int(2), imageWidth: try int(3),
                pixelSize: try double(4), tissueThickness: try double(5), rle: row[index[6]])
            do {
                _ = try RLE.parse(record.rle[...], width: record.imageWidth, height: record.imageHeight)
            } catch let error as TesseraError {
                throw TesseraError(path, "\(line) (id \(record.id)): \(error.reason)", code: error.code)
            }
            return record
        }
    }

    /// The table of `records` in train.csv layout.
    public static func table(_ records: [TrainingRecord]) -> CSVTable {
        CSVTable(
            header: columns,
            rows: records.map {
                [$0.id, $0.organ, String($0.imageHeight), String($0.imageWidth), format($0.pixelSize), format($0.tissueThickness), $0.rle]
            })
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// A competition submission: one `id,rle` row a slide.
public struct Submission: Sendable {
    public var rows: [(id: String, rle: String)] = []

    public init() {}

    /// The id a slide has in a submission: its file name without the extension.
    public static func id(forSlide path: String) -> String {
        ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    /// The table in submission layout.
    public var table: CSVTable { CSVTable(header: ["id", "rle"], rows: rows.map { [$0.id, $0.rle] }) }

    /// Writes `id,rle` rows to `path`.
    public func write(to path: String) throws { try table.write(to: path) }
}
