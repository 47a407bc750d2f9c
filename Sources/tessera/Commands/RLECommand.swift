import ArgumentParser
import Core
import Foundation
import Segmentation
import Shared
import Tiling

/// `tessera rle`: between mask TIFFs and the competitions' run-length encoding.
struct RLECommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rle",
        abstract: "Convert masks to and from Kaggle HuBMAP run-length encoding.",
        discussion: "Pixels are numbered from 1 top to bottom, then left to right; the text is space-separated start/length pairs.",
        subcommands: [Encode.self, Decode.self, Polygons.self]
    )

    struct Encode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a mask TIFF's RLE (non-zero pixels are foreground).")
        @Argument(help: "The mask TIFF.") var mask: String
        @Option(help: "Write the RLE here instead of standard output.") var out: String?

        func run() throws {
            let text = RLE.text(try MaskFiles.runs(ofMaskAt: mask).runs)
            if let out {
                do { try (text + "\n").write(toFile: out, atomically: true, encoding: .utf8) } catch {
                    throw TesseraError(out, "cannot write: \(error.localizedDescription)", code: .io)
                }
            } else {
                print(text)
            }
        }
    }

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a mask TIFF (0/255) from RLE text.")
        @Option(help: "Mask width in pixels.") var width: Int
        @Option(help: "Mask height in pixels.") var height: Int
        @Argument(help: "A file holding the RLE text ('-' for standard input).") var rle: String
        @Argument(help: "The mask TIFF to write.") var out: String

        func validate() throws {
            guard width > 0, height > 0, width <= 1 << 22, height <= 1 << 22 else {
                throw ValidationError("--width and --height must be between 1 and \(1 << 22)")
            }
        }

        func run() throws {
            let data = rle == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: rle)
            guard let data, let text = String(data: data, encoding: .utf8) else { throw TesseraError(rle, "cannot read the RLE text", code: .io) }
            let runs: [RLE.Run]
            do { runs = try RLE.parse(text[...], width: width, height: height) } catch let error as TesseraError {
                throw TesseraError(rle, error.reason, code: error.code)
            }
            try MaskFiles.write(runs, width: width, height: height, to: out)
        }
    }

    struct Polygons: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "geojson",
            abstract: "Write a mask TIFF's objects as GeoJSON polygons (holes as inner rings), as QuPath imports them.")
        @Argument(help: "The mask TIFF (non-zero pixels are foreground).") var mask: String
        @Option(help: "The GeoJSON file to write.") var out: String
        @Option(help: "The objects' classification.") var classification = "FTU"

        func run() throws {
            let (runs, width, height) = try MaskFiles.runs(ofMaskAt: mask)
            let polygons = MaskPolygons.polygons(runs, width: width, height: height)
            try MaskPolygons.writeGeoJSON(polygons, classification: classification, to: out)
            print("\(out) (\(polygons.count) objects, \(polygons.map { $0.rings.count - 1 }.reduce(0, +)) holes)")
        }
    }
}
