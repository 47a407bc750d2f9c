import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// OpenSlide (`libopenslide.so.0`, Debian's libopenslide0), loaded at run time when it is
/// installed: Tessera builds and runs without it, and reads slides that are not TIFF
/// (MIRAX, Hamamatsu VMS/NDPI, Leica SCN, Ventana BIF, Sakura, Philips…) through it when
/// it is there. Only the calls below are used; they are in every OpenSlide since 3.4.
public final class OpenSlide {
    /// The library's entry points, resolved once.
    struct Library: @unchecked Sendable {
        let detectVendor: @convention(c) (UnsafePointer<CChar>) -> UnsafePointer<CChar>?
        let open: @convention(c) (UnsafePointer<CChar>) -> OpaquePointer?
        let close: @convention(c) (OpaquePointer) -> Void
        let error: @convention(c) (OpaquePointer) -> UnsafePointer<CChar>?
        let levelCount: @convention(c) (OpaquePointer) -> Int32
        let levelDimensions: @convention(c) (OpaquePointer, Int32, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>) -> Void
        let levelDownsample: @convention(c) (OpaquePointer, Int32) -> Double
        let readRegion: @convention(c) (OpaquePointer, UnsafeMutablePointer<UInt32>, Int64, Int64, Int32, Int64, Int64) -> Void
        let propertyValue: @convention(c) (OpaquePointer, UnsafePointer<CChar>) -> UnsafePointer<CChar>?
        let version: @convention(c) () -> UnsafePointer<CChar>?

        static let loaded: Result<Library, OpenSlideError> = load()

        private static func load() -> Result<Library, OpenSlideError> {
            guard let handle = dlopen("libopenslide.so.0", RTLD_NOW | RTLD_LOCAL) ?? dlopen("libopenslide.so.1", RTLD_NOW | RTLD_LOCAL) else {
                return .failure(OpenSlideError("OpenSlide is not installed (libopenslide.so.0; on Debian: apt install libopenslide0)"))
            }
            func symbol<T>(_ name: String, as type: T.Type) throws -> T {
                guard let pointer = dlsym(handle, name) else { throw OpenSlideError("libopenslide has no \(name)") }
                return unsafeBitCast(pointer, to: type)
            }
            do {
                return .success(
                    Library(
                        detectVendor: try symbol("openslide_detect_vendor", as: (@convention(c) (UnsafePointer<CChar>) -> UnsafePointer<CChar>?).self),
                        open: try symbol("openslide_open", as: (@convention(c) (UnsafePointer<CChar>) -> OpaquePointer?).self),
                        close: try symbol("openslide_close", as: (@convention(c) (OpaquePointer) -> Void).self),
                        error: try symbol("openslide_get_error", as: (@convention(c) (OpaquePointer) -> UnsafePointer<CChar>?).self),
                        levelCount: try symbol("openslide_get_level_count", as: (@convention(c) (OpaquePointer) -> Int32).self),
                        levelDimensions: try symbol(
                            "openslide_get_level_dimensions",
                            as: (@convention(c) (OpaquePointer, Int32, UnsafeMutablePointer<Int64>, UnsafeMutablePointer<Int64>) -> Void).self),
                        levelDownsample: try symbol("openslide_get_level_downsample", as: (@convention(c) (OpaquePointer, Int32) -> Double).self),
                        readRegion: try symbol(
                            "openslide_read_region",
                            as: (@convention(c) (OpaquePointer, UnsafeMutablePointer<UInt32>, Int64, Int64, Int32, Int64, Int64) -> Void).self),
                        propertyValue: try symbol(
                            "openslide_get_property_value",
                            as: (@convention(c) (OpaquePointer, UnsafePointer<CChar>) -> UnsafePointer<CChar>?).self),
                        version: try symbol("openslide_get_version", as: (@convention(c) () -> UnsafePointer<CChar>?).self)))
            } catch let error as OpenSlideError {
                return .failure(error)
            } catch {
                return .failure(OpenSlideError("\(error)"))
            }
        }
    }

    /// Why OpenSlide cannot be used here, or nil when it can.
    public static var unavailable: String? {
        if case .failure(let error) = Library.loaded { return error.reason }
        return nil
    }

    /// The installed library's version, e.g. "3.4.1".
    public static var version: String? {
        (try? Library.loaded.get()).flatMap { $0.version() }.map { String(cString: $0) }
    }

    /// The vendor OpenSlide recognises `path` as ("aperio", "hamamatsu", "mirax",
    /// "generic-tiff", …), or nil when it does not (or is not installed).
    public static func vendor(of path: String) -> String? {
        guard let library = try? Library.loaded.get() else { return nil }
        return library.detectVendor(path).map { String(cString: $0) }
    }

    private let library: Library
    private let handle: OpaquePointer
    public let path: String

    /// Opens `path`; throws with OpenSlide's reason when it cannot.
    public init(path: String) throws {
        library = try Library.loaded.get()
        self.path = path
        guard let handle = library.open(path) else { throw OpenSlideError("OpenSlide does not recognise the file's format") }
        if let message = library.error(handle) {
            let reason = String(cString: message)
            library.close(handle)
            throw OpenSlideError(reason)
        }
        self.handle = handle
    }

    deinit { library.close(handle) }

    public var levelCount: Int { Int(library.levelCount(handle)) }

    /// Width and height of `level` (0 is full resolution).
    public func dimensions(level: Int) -> (width: Int, height: Int) {
        var width: Int64 = 0, height: Int64 = 0
        library.levelDimensions(handle, Int32(level), &width, &height)
        return (Int(width), Int(height))
    }

    public func downsample(level: Int) -> Double { library.levelDownsample(handle, Int32(level)) }

    /// A property ("openslide.mpp-x", "openslide.vendor", "aperio.AppMag", …), when set.
    public func property(_ name: String) -> String? { library.propertyValue(handle, name).map { String(cString: $0) } }

    /// The rectangle of `level` at level coordinates (x, y), `width` × `height`, as 8-bit
    /// RGB: OpenSlide's premultiplied ARGB composited over `background` (where the scanner
    /// left no image: alpha 0), so opaque pixels are exactly the file's.
    public func readRGB(level: Int, x: Int, y: Int, width: Int, height: Int, background: (UInt8, UInt8, UInt8)) throws -> [UInt8] {
        let downsample = self.downsample(level: level)
        var argb = [UInt32](repeating: 0, count: width * height)
        argb.withUnsafeMutableBufferPointer { buffer in
            // OpenSlide takes the top-left corner in level-0 coordinates.
            library.readRegion(
                handle, buffer.baseAddress!, Int64((Double(x) * downsample).rounded()), Int64((Double(y) * downsample).rounded()),
                Int32(level), Int64(width), Int64(height))
        }
        if let message = library.error(handle) { throw OpenSlideError(String(cString: message)) }
        let back = (UInt32(background.0), UInt32(background.1), UInt32(background.2))
        return [UInt8](unsafeUninitializedCapacity: width * height * 3) { rgb, count in
            for i in 0..<(width * height) {
                let pixel = argb[i], alpha = pixel >> 24
                var (r, g, b) = ((pixel >> 16) & 0xFF, (pixel >> 8) & 0xFF, pixel & 0xFF)
                if alpha != 255 {
                    let uncovered = 255 - alpha
                    r = min(255, r + (back.0 * uncovered + 127) / 255)
                    g = min(255, g + (back.1 * uncovered + 127) / 255)
                    b = min(255, b + (back.2 * uncovered + 127) / 255)
                }
                rgb[i * 3] = UInt8(r); rgb[i * 3 + 1] = UInt8(g); rgb[i * 3 + 2] = UInt8(b)
            }
            count = width * height * 3
        }
    }
}

/// A failure of OpenSlide, or its absence, with OpenSlide's own words where it has any.
public struct OpenSlideError: Error, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
