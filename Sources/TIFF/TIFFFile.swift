import CTIFF

#if canImport(Glibc)
import Glibc
#endif

/// An open TIFF file: one libtiff handle, owned and closed by this object.
///
/// All libtiff calls go through here. libtiff's error and warning messages for this handle
/// are captured (never printed) and become the reason of the `TIFFError` thrown by the call
/// that failed. A `TIFFFile` is not thread-safe: use one per thread.
public final class TIFFFile {
    /// The path it was opened with, used in every error message.
    public let path: String
    private let handle: OpaquePointer
    private let messages: MessageSink

    /// Opens `path` for reading (`"r"`), writing (`"w"`), or writing BigTIFF (`"w8"`).
    ///
    /// `maxSingleAllocation` bounds any one buffer libtiff allocates while decoding, so a
    /// header that claims absurd sizes fails cleanly instead of exhausting memory.
    /// The corresponding C function is `TIFFOpenExt`.
    public init(path: String, mode: String, maxSingleAllocation: Int = 1 << 30) throws {
        self.path = path
        let sink = MessageSink()
        self.messages = sink
        guard let options = TIFFOpenOptionsAlloc() else {
            throw TIFFError(path: path, reason: "out of memory")
        }
        defer { TIFFOpenOptionsFree(options) }
        let context = Unmanaged.passUnretained(sink).toOpaque()
        TIFFOpenOptionsSetErrorHandlerExtR(options, tiffErrorHandler, context)
        TIFFOpenOptionsSetWarningHandlerExtR(options, tiffWarningHandler, context)
        TIFFOpenOptionsSetMaxSingleMemAlloc(options, tmsize_t(maxSingleAllocation))
        // "m": never memory-map, so a truncated file fails a read instead of faulting.
        guard let tif = TIFFOpenExt(path, mode + "m", options) else {
            throw TIFFError(path: path, reason: sink.take() ?? "cannot open")
        }
        self.handle = tif
    }

    deinit { TIFFClose(handle) }

    /// Flushes and closes a file being written, reporting any failure.
    ///
    /// After this the object must not be used except to be released.
    public func flush() throws {
        guard TIFFFlush(handle) != 0 else { throw error("cannot write the file") }
    }

    // MARK: Errors

    /// libtiff's last message for this handle, or `fallback`.
    func error(_ fallback: String) -> TIFFError {
        TIFFError(path: path, reason: messages.take() ?? fallback)
    }

    /// Warnings libtiff raised so far (unknown tags and the like), oldest first.
    public var warnings: [String] { messages.warnings }

    // MARK: Directories

    /// The number of top-level directories (pages). The corresponding C function is
    /// `TIFFNumberOfDirectories`.
    public var directoryCount: Int { Int(TIFFNumberOfDirectories(handle)) }

    /// Makes the `index`-th top-level directory current.
    public func setDirectory(_ index: Int) throws {
        guard TIFFSetDirectory(handle, tdir_t(index)) != 0 else {
            throw error("cannot read directory \(index)")
        }
    }

    /// Makes the directory at file offset `offset` current (used for sub-IFDs).
    public func setSubDirectory(offset: UInt64) throws {
        guard TIFFSetSubDirectory(handle, offset) != 0 else {
            throw error("cannot read the sub-directory at offset \(offset)")
        }
    }

    /// The index of the current top-level directory.
    public var currentDirectory: Int { Int(TIFFCurrentDirectory(handle)) }

    /// Whether the file is BigTIFF.
    public var isBigTIFF: Bool { TIFFIsBigEndian(handle) >= 0 && TIFFIsBigTIFF(handle) != 0 }

    /// Finishes the current directory of a file being written and starts the next.
    public func writeDirectory() throws {
        guard TIFFWriteDirectory(handle) != 0 else { throw error("cannot write a directory") }
    }

    // MARK: Fields

    /// A scalar field read through `TIFFVGetField` (or its defaulted form).
    private func scalar<T: BitwiseCopyable>(_ tag: UInt32, zero: T, defaulted: Bool = false) -> T? {
        var value = zero
        let found = withUnsafeMutablePointer(to: &value) { pointer in
            withVaList([pointer]) { defaulted ? TIFFVGetFieldDefaulted(handle, tag, $0) : TIFFVGetField(handle, tag, $0) }
        }
        return found != 0 ? value : nil
    }

    /// A 16-bit field of the current directory, or nil when absent.
    public func uint16(_ tag: UInt32) -> UInt16? { scalar(tag, zero: UInt16(0)) }

    /// A 16-bit field, with libtiff's default when absent (`TIFFVGetFieldDefaulted`).
    public func uint16Defaulted(_ tag: UInt32) -> UInt16? { scalar(tag, zero: UInt16(0), defaulted: true) }

    /// A 32-bit field of the current directory, or nil when absent.
    public func uint32(_ tag: UInt32) -> UInt32? { scalar(tag, zero: UInt32(0)) }

    /// A float field (resolutions), or nil when absent.
    public func float(_ tag: UInt32) -> Float? { scalar(tag, zero: Float(0)) }

    /// An ASCII field, or nil when absent.
    public func string(_ tag: UInt32) -> String? {
        var value: UnsafeMutablePointer<CChar>? = nil
        let found = withUnsafeMutablePointer(to: &value) { pointer in
            withVaList([pointer]) { TIFFVGetField(handle, tag, $0) }
        }
        guard found != 0, let value else { return nil }
        return String(cString: value)
    }

    /// The offsets of the current directory's sub-IFDs (empty when it has none).
    public func subIFDOffsets() -> [UInt64] {
        var count: UInt16 = 0
        var offsets: UnsafeMutablePointer<UInt64>? = nil
        let found = withUnsafeMutablePointer(to: &count) { countPointer in
            withUnsafeMutablePointer(to: &offsets) { offsetsPointer in
                withVaList([countPointer, offsetsPointer]) { TIFFVGetField(handle, TIFFTag.subIFD, $0) }
            }
        }
        guard found != 0, let offsets else { return [] }
        return Array(UnsafeBufferPointer(start: offsets, count: Int(count)))
    }

    /// The extra-sample kinds (alpha and the like) of the current directory.
    public func extraSamples() -> [UInt16] {
        var count: UInt16 = 0
        var kinds: UnsafeMutablePointer<UInt16>? = nil
        let found = withUnsafeMutablePointer(to: &count) { countPointer in
            withUnsafeMutablePointer(to: &kinds) { kindsPointer in
                withVaList([countPointer, kindsPointer]) { TIFFVGetField(handle, TIFFTag.extraSamples, $0) }
            }
        }
        guard found != 0, let kinds else { return [] }
        return Array(UnsafeBufferPointer(start: kinds, count: Int(count)))
    }

    /// Sets a field whose C type is 16 or 32-bit integer (libtiff promotes both to `int`).
    public func set(_ tag: UInt32, _ value: Int) throws {
        let ok = withVaList([Int32(truncatingIfNeeded: value)]) { TIFFVSetField(handle, tag, $0) }
        guard ok != 0 else { throw error("cannot set tag \(tag)") }
    }

    /// Sets a float field (resolutions; libtiff reads it as `double` from varargs).
    public func set(_ tag: UInt32, _ value: Double) throws {
        let ok = withVaList([value]) { TIFFVSetField(handle, tag, $0) }
        guard ok != 0 else { throw error("cannot set tag \(tag)") }
    }

    /// Sets an ASCII field.
    public func set(_ tag: UInt32, _ value: String) throws {
        let ok = value.withCString { text in
            withVaList([text]) { TIFFVSetField(handle, tag, $0) }
        }
        guard ok != 0 else { throw error("cannot set tag \(tag)") }
    }

    /// Sets ExtraSamples to the given kinds.
    public func setExtraSamples(_ kinds: [UInt16]) throws {
        var kinds = kinds
        let ok = kinds.withUnsafeMutableBufferPointer { buffer in
            withVaList([UInt16(buffer.count), buffer.baseAddress!]) { TIFFVSetField(handle, TIFFTag.extraSamples, $0) }
        }
        guard ok != 0 else { throw error("cannot set ExtraSamples") }
    }

    // MARK: Layout

    /// Whether the current directory is tiled (else stripped).
    public var isTiled: Bool { TIFFIsTiled(handle) != 0 }

    /// Bytes of one decoded tile of the current directory.
    public var tileSize: Int { Int(TIFFTileSize64(handle)) }

    /// Bytes of one decoded strip of the current directory (the full strip height).
    public var stripSize: Int { Int(TIFFStripSize64(handle)) }

    /// Bytes of one decoded scanline of the current directory.
    public var scanlineSize: Int { Int(TIFFScanlineSize64(handle)) }

    /// The number of tiles (all planes) of the current directory.
    public var tileCount: Int { Int(TIFFNumberOfTiles(handle)) }

    /// The number of strips (all planes) of the current directory.
    public var stripCount: Int { Int(TIFFNumberOfStrips(handle)) }

    /// The index of the tile that holds pixel (x, y) of plane `plane`.
    public func tileIndex(x: Int, y: Int, plane: Int) -> Int {
        Int(TIFFComputeTile(handle, UInt32(x), UInt32(y), 0, UInt16(plane)))
    }

    /// The index of the strip that holds row `y` of plane `plane`.
    public func stripIndex(y: Int, plane: Int) -> Int {
        Int(TIFFComputeStrip(handle, UInt32(y), UInt16(plane)))
    }

    // MARK: Reading

    /// Decodes tile `index` into `buffer`, which must hold `tileSize` bytes; returns the
    /// bytes decoded. The corresponding C function is `TIFFReadEncodedTile`.
    @discardableResult
    public func readTile(_ index: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let read = TIFFReadEncodedTile(handle, UInt32(index), buffer.baseAddress, tmsize_t(buffer.count))
        guard read >= 0 else { throw error("cannot decode tile \(index)") }
        return Int(read)
    }

    /// Decodes strip `index` into `buffer`; returns the bytes decoded (a short last strip
    /// gives fewer). The corresponding C function is `TIFFReadEncodedStrip`.
    @discardableResult
    public func readStrip(_ index: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let read = TIFFReadEncodedStrip(handle, UInt32(index), buffer.baseAddress, tmsize_t(buffer.count))
        guard read >= 0 else { throw error("cannot decode strip \(index)") }
        return Int(read)
    }

    /// Decodes one scanline of one plane. Rows must be requested in increasing order within
    /// a strip for compressed data (libtiff restarts the strip otherwise).
    public func readScanline(_ row: Int, plane: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard TIFFReadScanline(handle, buffer.baseAddress, UInt32(row), UInt16(plane)) >= 0 else {
            throw error("cannot decode row \(row)")
        }
    }

    /// Whether libtiff's RGBA interface can convert the current directory, and why not.
    public func rgbaConvertible() -> (ok: Bool, reason: String) {
        var message = [CChar](repeating: 0, count: 1024)
        let ok = TIFFRGBAImageOK(handle, &message) != 0
        _ = messages.take()
        let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return (ok, reason)
    }

    /// Reads a rectangle of the current directory through libtiff's RGBA interface, which
    /// converts palette, 16-bit, 1-bit, YCbCr, CMYK and other layouts to 8-bit RGBA.
    /// `raster` receives `width * height` packed ABGR words, top row first.
    public func readRGBA(x: Int, y: Int, width: Int, height: Int, into raster: UnsafeMutableBufferPointer<UInt32>) throws {
        precondition(raster.count >= width * height)
        var message = [CChar](repeating: 0, count: 1024)
        var image = TIFFRGBAImage()
        guard TIFFRGBAImageBegin(&image, handle, 0, &message) != 0 else {
            let reason = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            throw TIFFError(path: path, reason: messages.take() ?? reason)
        }
        defer { TIFFRGBAImageEnd(&image) }
        image.req_orientation = 1  // ORIENTATION_TOPLEFT
        image.row_offset = Int32(y)
        image.col_offset = Int32(x)
        guard TIFFRGBAImageGet(&image, raster.baseAddress, UInt32(width), UInt32(height)) != 0 else {
            throw error("cannot convert the region at (\(x), \(y)) to RGBA")
        }
    }

    // MARK: Writing

    /// Encodes tile `index` from `bytes` (a full tile). The corresponding C function is
    /// `TIFFWriteEncodedTile`.
    public func writeTile(_ index: Int, from bytes: UnsafeRawBufferPointer) throws {
        let written = TIFFWriteEncodedTile(handle, UInt32(index), UnsafeMutableRawPointer(mutating: bytes.baseAddress), tmsize_t(bytes.count))
        guard written >= 0 else { throw error("cannot write tile \(index)") }
    }

    /// Writes tile `index` as `bytes`, already encoded with the file's compression (and
    /// predictor). The corresponding C function is `TIFFWriteRawTile`.
    public func writeRawTile(_ index: Int, from bytes: UnsafeRawBufferPointer) throws {
        let written = TIFFWriteRawTile(handle, UInt32(index), UnsafeMutableRawPointer(mutating: bytes.baseAddress), tmsize_t(bytes.count))
        guard written >= 0 else { throw error("cannot write tile \(index)") }
    }

    /// Encodes strip `index` from `bytes`.
    public func writeStrip(_ index: Int, from bytes: UnsafeRawBufferPointer) throws {
        let written = TIFFWriteEncodedStrip(handle, UInt32(index), UnsafeMutableRawPointer(mutating: bytes.baseAddress), tmsize_t(bytes.count))
        guard written >= 0 else { throw error("cannot write strip \(index)") }
    }
}

/// Collects libtiff's messages for one handle.
private final class MessageSink {
    private var lastError: String?
    private(set) var warnings: [String] = []

    func error(_ text: String) { lastError = text }
    func warning(_ text: String) { if warnings.count < 100 { warnings.append(text) } }

    /// The last error, cleared.
    func take() -> String? {
        defer { lastError = nil }
        return lastError
    }
}

private func format(_ module: UnsafePointer<CChar>?, _ format: UnsafePointer<CChar>?, _ arguments: CVaListPointer) -> String {
    var buffer = [CChar](repeating: 0, count: 1024)
    _ = vsnprintf(&buffer, buffer.count, format, arguments)
    let text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    if let module, module.pointee != 0 {
        let name = String(cString: module)
        // libtiff names the module after the file for some messages; keep only real modules.
        if !name.contains("/") && !name.contains(".") { return "\(name): \(text)" }
    }
    return text
}

private let tiffErrorHandler: TIFFErrorHandlerExtR = { _, context, module, fmt, arguments in
    guard let context, let arguments else { return 0 }
    Unmanaged<MessageSink>.fromOpaque(context).takeUnretainedValue().error(format(module, fmt, arguments))
    return 1
}

private let tiffWarningHandler: TIFFErrorHandlerExtR = { _, context, module, fmt, arguments in
    guard let context, let arguments else { return 0 }
    Unmanaged<MessageSink>.fromOpaque(context).takeUnretainedValue().warning(format(module, fmt, arguments))
    return 1
}
