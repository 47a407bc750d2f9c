import Core
import Foundation
import OpenSlide
import TIFF

/// Choosing who reads a file (libtiff or OpenSlide), opening it, and explaining refusals.
extension SlideReader {
    /// The compression of the full-resolution image when this libtiff cannot decode it.
    static func undecodable(_ directories: [SlideDirectory]) -> UInt16? {
        guard let full = directories.max(by: { $0.width * $0.height < $1.width * $1.height }),
            !TIFFCompression.isConfigured(full.compression)
        else { return nil }
        return full.compression
    }

    /// Why a TIFF libtiff cannot decode is refused, and what reads it.
    static func explainUndecodable(_ compression: UInt16, path: String, libtiffAskedFor: Bool = false) -> String {
        let name = compression == 33003 || compression == 33005 ? "Aperio JPEG 2000 (\(compression))" : TIFFCompression.name(of: compression)
        if libtiffAskedFor {
            return "compression \(name) is not supported by this libtiff"
                + (OpenSlide.unavailable == nil && OpenSlide.vendor(of: path) != nil
                    ? "; OpenSlide reads it (--reader auto or openslide)" : "")
        }
        if let reason = OpenSlide.unavailable {
            return "compression \(name) is not supported by this libtiff; OpenSlide reads it once installed "
                + "(apt-get install libopenslide0; here: \(reason))"
        }
        return "compression \(name) is not supported by this libtiff, and OpenSlide does not recognise the file"
    }

    /// Whether `backend` makes OpenSlide read `path`: asked for, or automatic and the file
    /// is not TIFF or is a TIFF variant only OpenSlide reads right. A file that is not TIFF
    /// without OpenSlide is refused, saying so.
    static func readsWithOpenSlide(_ path: String, _ backend: Backend) throws -> Bool {
        switch backend {
        case .tiff: return false
        case .openSlide:
            if let reason = OpenSlide.unavailable { throw TesseraError(path, reason, code: .unsupported) }
            return true
        case .automatic:
            if isTIFF(path) {
                guard let vendor = OpenSlide.vendor(of: path) else { return false }
                return !tiffVendors.contains(vendor)
            }
            // What OpenSlide does not know, libtiff refuses, saying why (`openFailure`).
            return OpenSlide.vendor(of: path) != nil
        }
    }

    /// Whether the file starts as a TIFF or BigTIFF does.
    static func isTIFF(_ path: String) -> Bool {
        guard let handle = fopen(path, "rb") else { return false }
        defer { fclose(handle) }
        var magic = [UInt8](repeating: 0, count: 4)
        return fread(&magic, 1, 4, handle) == 4 && isTIFF(magic: magic)
    }

    /// Whether four bytes open a TIFF or BigTIFF: either byte order, then 42 or 43.
    static func isTIFF(magic: [UInt8]) -> Bool {
        (magic[0] == 0x49 && magic[1] == 0x49 || magic[0] == 0x4D && magic[1] == 0x4D)
            && (magic[2] == 42 || magic[3] == 42 || magic[2] == 43 || magic[3] == 43)
    }

    // MARK: Opening

    static func openFailure(path: String, libtiff: String) -> TesseraError {
        guard let handle = fopen(path, "rb") else {
            let missing = errno == ENOENT
            return TesseraError(path, "cannot open: \(String(cString: strerror(errno)))", code: missing ? .notFound : .io)
        }
        defer { fclose(handle) }
        var magic = [UInt8](repeating: 0, count: 4)
        let count = fread(&magic, 1, 4, handle)
        if count < 4 { return TesseraError(path, count == 0 ? "the file is empty" : "too short to be a TIFF file", code: .malformed) }
        guard !isTIFF(magic: magic) else { return TesseraError(path, "corrupt TIFF: \(libtiff)", code: .malformed) }
        if let reason = OpenSlide.unavailable {
            return TesseraError(
                path, "not a TIFF file, and \(reason), which reads MIRAX, Hamamatsu VMS and the other formats it knows", code: .unsupported)
        }
        return TesseraError(
            path,
            "not a TIFF file, nor a format OpenSlide \(OpenSlide.version ?? "") knows (MIRAX .mrxs, Hamamatsu .vms/.vmu/.ndpi, Sakura .svslide, TIFF variants)",
            code: .unsupported)
    }

    static func listDirectories(_ file: TIFFFile, path: String) throws -> [SlideDirectory] {
        var result: [SlideDirectory] = []
        let pages = file.directoryCount
        guard pages > 0 else { throw TesseraError(path, "corrupt TIFF: no image directory", code: .malformed) }
        for page in 0..<min(pages, 4096) {
            try wrap(path) { try file.setDirectory(page) }
            result.append(SlideDirectory(reading: file, at: .page(page)))
            for (index, offset) in file.subIFDOffsets().prefix(64).enumerated() {
                try wrap(path) { try file.setSubDirectory(offset: offset) }
                result.append(SlideDirectory(reading: file, at: .subIFD(page: page, index: index, offset: offset)))
                try wrap(path) { try file.setDirectory(page) }
            }
        }
        return result
    }

    static func select(_ location: DirectoryLocation, in file: TIFFFile, path: String) throws {
        try wrap(path) {
            switch location {
            case .page(let page): try file.setDirectory(page)
            case .subIFD(_, _, let offset): try file.setSubDirectory(offset: offset)
            case .openSlideLevel: preconditionFailure("a TIFF directory")
            }
        }
    }

    static func wrap(_ path: String, _ body: () throws -> Void) throws {
        do { try body() } catch let error as TIFFError {
            throw TesseraError(path, "corrupt TIFF: \(error.reason)", code: .malformed)
        }
    }
}
