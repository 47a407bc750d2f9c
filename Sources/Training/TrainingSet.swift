import Core
import Foundation
import Segmentation

/// The slides of a training folder and their masks: a `tessera synth` folder, or the Kaggle
/// HuBMAP layouts — 2021's train.csv (id, encoding) and 2022's (id, organ, …, rle) — with
/// images as ID.tiff in the folder or in a train*/ folder beneath it. A mask TIFF beside the
/// image (ID_mask.tiff, as synth writes) is used when present, the RLE otherwise.
public struct TrainingSet: Sendable {
    public struct Slide: Sendable {
        public let id: String
        public let imagePath: String
        public let mask: TileCutter.Mask
        /// µm per pixel from train.csv's `pixel_size` (HuBMAP 2022); nil where it has none.
        public let pixelSize: Double?
    }

    public let slides: [Slide]

    public init(folder: String) throws {
        let csv = (folder as NSString).appendingPathComponent("train.csv")
        guard FileManager.default.fileExists(atPath: csv) else { throw TesseraError(folder, "no train.csv in the training folder", code: .notFound) }
        let table = try CSVTable(contentsOf: csv)
        let ids = try table.column("id", source: csv)
        let sizes = table.header.firstIndex(of: "pixel_size")
        guard let encoding = table.header.firstIndex(of: "rle") ?? table.header.firstIndex(of: "encoding") else {
            throw TesseraError(csv, "neither an rle (2022) nor an encoding (2021) column")
        }
        let candidates =
            [folder]
            + ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasPrefix("train") && !$0.hasSuffix(".csv") }.sorted()
            .map { (folder as NSString).appendingPathComponent($0) }
        var slides: [Slide] = []
        for (number, row) in table.rows.enumerated() {
            let id = row[ids]
            guard !id.isEmpty else { throw TesseraError(csv, "line \(number + 2): an empty id", code: .malformed) }
            let image = candidates.lazy.flatMap { dir in ["tiff", "tif"].map { (dir as NSString).appendingPathComponent("\(id).\($0)") } }
                .first { FileManager.default.fileExists(atPath: $0) }
            guard let image else {
                throw TesseraError(
                    csv, "line \(number + 2): no image for id \(id) (looked for \(id).tiff in \(candidates.joined(separator: ", ")))", code: .notFound)
            }
            let maskTIFF = ((image as NSString).deletingLastPathComponent as NSString).appendingPathComponent("\(id)_mask.tiff")
            let mask: TileCutter.Mask = FileManager.default.fileExists(atPath: maskTIFF) ? .tiff(maskTIFF) : .rle(row[encoding])
            let pixelSize = sizes.flatMap { Double(row[$0]) }.flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
            slides.append(Slide(id: id, imagePath: image, mask: mask, pixelSize: pixelSize))
        }
        guard !slides.isEmpty else { throw TesseraError(csv, "no slides listed") }
        self.slides = slides
    }

    /// The slides held out for validation: the given ids, or else the last fifth by id
    /// (at least one, none when there is a single slide).
    public func split(validation ids: [String]?) throws -> (train: [Slide], validation: [Slide]) {
        if let ids {
            for id in ids where !slides.contains(where: { $0.id == id }) { throw TesseraError("validation", "no slide \(id) in train.csv", code: .notFound) }
            let train = slides.filter { !ids.contains($0.id) }
            guard !train.isEmpty else { throw TesseraError("validation", "every slide is held out; none is left to train on") }
            return (train, slides.filter { ids.contains($0.id) })
        }
        guard slides.count > 1 else { return (slides, []) }
        let sorted = slides.sorted { $0.id < $1.id }
        let held = max(1, sorted.count / 5)
        return (Array(sorted.dropLast(held)), Array(sorted.suffix(held)))
    }
}
