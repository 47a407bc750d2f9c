import Core
import Foundation
import Tiling

/// Writes a synthetic slide, its exact mask and its train.csv row into a folder.
public enum SyntheticSlideWriter {
    /// Rows rendered at once: one band of tiles.
    static let band = 256

    /// The files written for one slide.
    public struct Output: Sendable {
        public let slidePath: String
        public let maskPath: String
        public let csvPath: String
        public let record: TrainingRecord
    }

    /// Renders the slide band by band into `directory`: `<id>.tiff` (RGB, tiled), `<id>_mask.tiff`
    /// (0/255), and a row in `train.csv` (replacing a row of the same id, keeping others).
    /// `pyramid`: reduction factors of the slide's reduced copies; `aperio`: its pixel size
    /// written as an Aperio ImageDescription (`MPP = 0.5`) rather than resolution tags;
    /// `micronsPerPixel`: the pixel size written (its structures are drawn at 0.5 µm).
    public static func write(
        _ slide: SyntheticSlide, to directory: String, id: String? = nil,
        compression: TiledImageWriter.Compression = .deflate, pyramid: [Int] = [], aperio: Bool = false,
        micronsPerPixel: Double = 0.5, progress: ((Int, Int) -> Void)? = nil
    ) throws -> Output {
        guard slide.width >= 1, slide.height >= 1, slide.width <= 200_000, slide.height <= 200_000 else {
            throw TesseraError("synth", "size \(slide.width)×\(slide.height) is outside 1…200000 a side")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw TesseraError(directory, "cannot create the folder: \(error.localizedDescription)", code: .io)
        }
        let id = id ?? "synth_\(slide.seed)"
        let slidePath = (directory as NSString).appendingPathComponent("\(id).tiff")
        let maskPath = (directory as NSString).appendingPathComponent("\(id)_mask.tiff")
        let csvPath = (directory as NSString).appendingPathComponent("train.csv")
        let description =
            "Aperio Image Library Tessera synth\r\n\(slide.width)x\(slide.height) (256x256) \(compression.rawValue)|AppMag = 20|MPP = \(micronsPerPixel)"
        let image = try TiledImageWriter(
            path: slidePath, width: slide.width, height: slide.height, channels: 3,
            compression: compression, micronsPerPixel: aperio ? nil : micronsPerPixel,
            description: aperio ? description : nil, levels: pyramid)
        let mask = try TiledImageWriter(
            path: maskPath, width: slide.width, height: slide.height, channels: 1,
            micronsPerPixel: micronsPerPixel)
        for y0 in stride(from: 0, to: slide.height, by: band) {
            let rows = min(band, slide.height - y0)
            let (rgb, maskRows) = slide.render(firstRow: y0, rows: rows)
            try image.append(rows: rgb)
            try mask.append(rows: maskRows)
            progress?(y0 + rows, slide.height)
        }
        try image.finish()
        try mask.finish()
        let runs = try MaskFiles.runs(ofMaskAt: maskPath).runs
        let record = TrainingRecord(
            id: id, organ: "kidney", imageHeight: slide.height, imageWidth: slide.width,
            pixelSize: micronsPerPixel, tissueThickness: 10, rle: RLE.text(runs))
        var records = FileManager.default.fileExists(atPath: csvPath) ? try TrainingRecord.read(csvPath) : []
        records.removeAll { $0.id == id }
        records.append(record)
        try TrainingRecord.table(records).write(to: csvPath)
        return Output(slidePath: slidePath, maskPath: maskPath, csvPath: csvPath, record: record)
    }
}
