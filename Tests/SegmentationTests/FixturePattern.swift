import Core
import Foundation

@testable import Segmentation

/// The picture every TIFF fixture holds (see tools/make_tiff_fixtures.py).
enum FixturePattern {
    static let width = 70
    static let height = 50

    /// pattern(x, y, c) = (7x + 13y + 50c + (x*y mod 17)) mod 256.
    static func value(_ x: Int, _ y: Int, _ c: Int) -> UInt8 {
        UInt8((7 * x + 13 * y + 50 * c + (x * y) % 17) % 256)
    }

    /// The smooth picture of the JPEG fixture: x + 2y + 40c.
    static func smooth(_ x: Int, _ y: Int, _ c: Int) -> UInt8 {
        UInt8(x + 2 * y + 40 * c)
    }

    static func path(_ name: String) -> String {
        Bundle.module.path(forResource: "Fixtures/" + name, ofType: nil)!
    }
}
