import Core
import Foundation
import Testing

@testable import Segmentation

/// Stain normalisation against torchstain's numpy normalisers on the same images
/// (`tools/make_stain_goldens.py`).
@Suite struct StainTests {
    struct Golden: Decodable {
        struct Case: Decodable { let name, input, macenkoDefault, macenkoFitted, reinhard: String }
        let size: Int
        let reference: String
        let macenkoStains: [[Double]]
        let macenkoMaxConcentrations: [Double]
        let reinhardMeans: [Double]
        let reinhardDeviations: [Double]
        let cases: [Case]
    }

    static func golden() throws -> Golden {
        try JSONDecoder().decode(Golden.self, from: Data(contentsOf: URL(fileURLWithPath: FixturePattern.path("stain_goldens.json"))))
    }

    static func image(_ base64: String, _ size: Int) -> PixelImage {
        PixelImage(width: size, height: size, channels: 3, pixels: [UInt8](Data(base64Encoded: base64)!))
    }

    /// The share of bytes that differ, and the largest difference.
    static func compare(_ a: PixelImage, _ b: PixelImage) -> (share: Double, worst: Int) {
        let differences = zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }
        return (Double(differences.filter { $0 > 0 }.count) / Double(differences.count), differences.max() ?? 0)
    }

    /// Bytes are truncated from doubles: a different last bit of a sum can move one by 1.
    @Test func macenkoAgreesWithTorchstain() throws {
        let golden = try Self.golden()
        let fitted = try MacenkoStain().fitted(to: Self.image(golden.reference, golden.size))
        for (row, expected) in zip(fitted.stains, golden.macenkoStains) {
            for (a, b) in zip(row, expected) { #expect(abs(a - b) < 1e-9, "stain matrix \(fitted.stains) against \(golden.macenkoStains)") }
        }
        for (a, b) in zip(fitted.maxConcentrations, golden.macenkoMaxConcentrations) { #expect(abs(a - b) < 1e-9) }
        for item in golden.cases {
            let input = Self.image(item.input, golden.size)
            let byDefault = Self.compare(MacenkoStain().normalise(input), Self.image(item.macenkoDefault, golden.size))
            let toReference = Self.compare(fitted.normalise(input), Self.image(item.macenkoFitted, golden.size))
            print("\(item.name): Macenko default \(byDefault), fitted \(toReference)")
            #expect(byDefault.worst <= 1 && byDefault.share <= 0.001, "\(item.name): \(byDefault)")
            #expect(toReference.worst <= 1 && toReference.share <= 0.001, "\(item.name): \(toReference)")
        }
    }

    /// torchstain works in float32 here (numpy's pairwise sums); Tessera sums in double:
    /// bytes within 1, and the same bytes but where a value lands on an integer.
    @Test func reinhardAgreesWithTorchstain() throws {
        let golden = try Self.golden()
        let fitted = try ReinhardStain.fitted(to: Self.image(golden.reference, golden.size))
        for (a, b) in zip(fitted.means + fitted.deviations, golden.reinhardMeans + golden.reinhardDeviations) {
            #expect(abs(a - b) <= 1e-4 * max(1, abs(b)), "\(fitted) against \(golden.reinhardMeans) \(golden.reinhardDeviations)")
        }
        for item in golden.cases {
            let result = Self.compare(fitted.normalise(Self.image(item.input, golden.size)), Self.image(item.reinhard, golden.size))
            print("\(item.name): Reinhard \(result)")
            // The reference onto itself maps each byte to itself in exact arithmetic: a value
            // a hair under it truncates one lower, so there only the bound of 1 holds.
            #expect(result.worst <= 1 && (item.name == "reference" || result.share <= 0.01), "\(item.name): \(result)")
        }
    }

    @Test func glassIsLeftAlone() {
        let glass = PixelImage(width: 8, height: 8, channels: 3, pixels: [UInt8](repeating: 240, count: 192))
        #expect(MacenkoStain().normalise(glass) == glass)
        #expect(ReinhardStain(means: [70, 10, -5], deviations: [10, 5, 5]).normalise(glass) == glass)
    }

    @Test func eigenvectorsOfASymmetricMatrix() {
        let m: [[Double]] = [[4, 1, 0.5], [1, 3, 0.2], [0.5, 0.2, 1]]
        let v = SymmetricEigen.vectors(m)
        var previous = -Double.infinity
        for k in 0..<3 {
            let x = [v[0][k], v[1][k], v[2][k]]
            let mx = (0..<3).map { r in m[r][0] * x[0] + m[r][1] * x[1] + m[r][2] * x[2] }
            let lambda = mx[0] * x[0] + mx[1] * x[1] + mx[2] * x[2]
            for r in 0..<3 { #expect(abs(mx[r] - lambda * x[r]) < 1e-12) }
            #expect(lambda > previous)
            previous = lambda
        }
    }
}

/// Stain references as files, and members that normalise.
@Suite struct StainNormaliserTests {
    final class Recorder: TilePredictor {
        let name = "recorder"
        var seen: [PixelImage] = []
        func predict(_ tile: PixelImage) throws -> [Float] {
            seen.append(tile)
            return [Float](repeating: 0.5, count: tile.width * tile.height)
        }
    }

    @Test func referencesRoundTripAsTheirDocumentedJSON() throws {
        let golden = try StainTests.golden()
        let image = StainTests.image(golden.reference, golden.size)
        for reference in [StainNormaliser.macenko(try MacenkoStain().fitted(to: image)), .reinhard(try ReinhardStain.fitted(to: image))] {
            let json = try reference.json()
            let object = try JSONSerialization.jsonObject(with: json) as! [String: Any]
            #expect(object["method"] as? String == reference.method.rawValue)
            #expect(try JSONDecoder().decode(StainNormaliser.self, from: json) == reference)
        }
    }

    @Test func aNormalisingMemberPredictsTheNormalisedTile() throws {
        let golden = try StainTests.golden()
        let recorder = Recorder()
        let member = StainNormalisingPredictor(recorder, normaliser: .macenko(MacenkoStain()))
        let input = StainTests.image(golden.cases[0].input, golden.size)
        _ = try member.predict(input)
        #expect(recorder.seen == [StainTests.image(golden.cases[0].macenkoDefault, golden.size)])
        #expect(throws: TesseraError.self) { try StainNormaliser.named(.reinhard, reference: nil) }
    }
}
