import Core
import Foundation
import Tiling

/// Turns `Wire` values into ZeroMQ frames and back, checking everything on the way in.
///
/// A message is: header frame (`WireHeader`), a body frame (JSON, or a fixed binary header
/// for tiles and results), and for some kinds a payload frame. Decoding is total: whatever
/// the bytes, it returns a value inside `WireLimits` or a `WireError` for the caller to log,
/// count and drop; no arithmetic on wire values can overflow and nothing it allocates is
/// larger than the frames it was given.
public enum WireCodec {
    /// The largest JSON body accepted.
    public static let maxBodyBytes = 1 << 20

    /// The kinds whose body frame must be empty.
    static let bodiless: Set<WireKind> = [.heartbeat, .goodbye, .registerAgain, .statusRequest]

    // MARK: Encoding

    /// A control message: header and JSON body (and an optional payload).
    public static func frames(_ kind: WireKind, _ body: some Encodable, payload: [UInt8]? = nil) -> [[UInt8]] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = (try? encoder.encode(body)).map { [UInt8]($0) } ?? Array("{}".utf8)
        return [WireHeader.frame(kind), json] + (payload.map { [$0] } ?? [])
    }

    /// A message with no body (heartbeat, goodbye, registerAgain, statusRequest).
    public static func frames(_ kind: WireKind) -> [[UInt8]] { [WireHeader.frame(kind), []] }

    /// A tile request with its RGB pixels.
    public static func frames(_ tile: Wire.TileRequest, pixels: [UInt8]) -> [[UInt8]] {
        var header = ByteWriter()
        header.u64(tile.job); header.u64(tile.request); header.u32(tile.row); header.u32(tile.column)
        header.u32(tile.size); header.u8(tile.encoding.rawValue); header.u8(flipCode(tile.flips)); header.u32(tile.inset)
        header.u32(tile.mapSize); header.u64(tile.pixelSize.bitPattern)
        return [WireHeader.frame(.tile), header.bytes, pixels]
    }

    /// A result with its encoded map.
    public static func frames(_ result: Wire.TileResult, map: [UInt8]) -> [[UInt8]] {
        var header = ByteWriter()
        header.u64(result.job); header.u64(result.request); header.u32(result.row); header.u32(result.column)
        header.u32(result.size); header.u8(result.encoding.rawValue); header.u32(result.inset)
        return [WireHeader.frame(.result), header.bytes, map]
    }

    /// A training state: its header and the weights, optimiser state and model files
    /// (the model empty unless a checkpoint asked for it).
    public static func frames(_ state: Wire.TrainStateHeader, weights: [UInt8], optimizer: [UInt8], model: [UInt8] = []) -> [[UInt8]] {
        frames(.trainState, state) + [weights, optimizer, model]
    }

    // MARK: Decoding

    /// The kind of a message and its frames after the header, after checking the header
    /// and the frame count the kind requires.
    public static func open(_ frames: [[UInt8]]) -> Result<(WireKind, [[UInt8]]), WireError> {
        guard let first = frames.first else { return .failure(.init("empty message")) }
        switch WireHeader.parse(first) {
        case .failure(let error): return .failure(error)
        case .success(let kind):
            let rest = Array(frames.dropFirst())
            let expected: Int
            switch kind {
            case .tile, .result, .chunk: expected = 2
            case .trainState: expected = 4
            default: expected = 1
            }
            guard rest.count == expected else {
                return .failure(.init("\(kind) needs \(expected + 1) frames, got \(frames.count)"))
            }
            guard rest[0].count <= maxBodyBytes else { return .failure(.init("\(kind) body of \(rest[0].count) bytes is too large")) }
            guard !bodiless.contains(kind) || rest[0].isEmpty else { return .failure(.init("\(kind) has a body of \(rest[0].count) bytes; it takes none")) }
            return .success((kind, rest))
        }
    }

    /// A JSON body as `T`, with every field inside its bounds.
    public static func decode<T: WireBody>(_ type: T.Type, _ body: [UInt8]) -> Result<T, WireError> {
        let value: T
        do {
            value = try WholeNumbers.decode(T.self, from: body)
        } catch let violation as WholeNumbers.Violation {
            return .failure(.init("\(T.self): \(violation)"))
        } catch {
            return .failure(.init("malformed \(T.self) body"))
        }
        if let flaw = value.flaw { return .failure(.init("\(T.self): \(flaw)")) }
        return .success(value)
    }

    /// A training state's header and files; the weights and optimiser state must be there.
    public static func trainState(_ frames: [[UInt8]]) -> Result<(Wire.TrainStateHeader, weights: [UInt8], optimizer: [UInt8], model: [UInt8]), WireError> {
        decode(Wire.TrainStateHeader.self, frames[0]).flatMap { header in
            guard !frames[1].isEmpty, !frames[2].isEmpty else { return .failure(WireError("trainState without its weights or optimiser state")) }
            guard frames[1...3].allSatisfy({ $0.count <= WireLimits.stateBytes }) else {
                return .failure(WireError("a trainState file is larger than \(WireLimits.stateBytes) bytes"))
            }
            return .success((header, frames[1], frames[2], frames[3]))
        }
    }

    /// A tile request's header and pixels, checked against the size limit.
    public static func tile(_ frames: [[UInt8]], maxSize: Int) -> Result<(Wire.TileRequest, [UInt8]), WireError> {
        var reader = ByteReader(frames[0])
        guard let job = reader.u64(), let request = reader.u64(), let row = reader.u32(), let column = reader.u32(),
            let size = reader.u32(), let encodingCode = reader.u8(), let flipsCode = reader.u8(), let inset = reader.u32(),
            let mapSize = reader.u32(), let pixelBits = reader.u64(), reader.atEnd
        else {
            return .failure(.init("tile header is not 46 bytes"))
        }
        guard let encoding = MapEncoding(rawValue: encodingCode) else { return .failure(.init("unknown map encoding \(encodingCode)")) }
        guard let flips = flipSet(flipsCode) else { return .failure(.init("unknown flips code \(flipsCode)")) }
        guard mapSize >= 1, Int(mapSize) <= maxSize else { return .failure(.init("map size \(mapSize) outside 1…\(maxSize)")) }
        guard size >= 1, size <= mapSize else { return .failure(.init("tile size \(size) outside 1…\(mapSize) (its map size)")) }
        let pixelSize = Double(bitPattern: pixelBits)
        guard pixelSize.isFinite, pixelSize >= 0, pixelSize <= WireLimits.pixelSize else {
            return .failure(.init("pixel size \(pixelSize) outside 0…\(WireLimits.pixelSize) µm"))
        }
        if let error = insetError(inset, size: mapSize) { return .failure(error) }
        guard frames[1].count == Int(size) * Int(size) * 3 else {
            return .failure(.init("tile of \(size)² pixels carries \(frames[1].count) bytes, not \(Int(size) * Int(size) * 3)"))
        }
        return .success(
            (
                Wire.TileRequest(
                    job: job, request: request, row: row, column: column, size: size, encoding: encoding, flips: flips,
                    inset: inset, mapSize: mapSize, pixelSize: pixelSize), frames[1]
            ))
    }

    /// A result's header and map, checked for consistency and against the size limit.
    public static func result(_ frames: [[UInt8]], maxSize: Int = WireLimits.tileSide.upperBound) -> Result<(Wire.TileResult, [UInt8]), WireError> {
        var reader = ByteReader(frames[0])
        guard let job = reader.u64(), let request = reader.u64(), let row = reader.u32(), let column = reader.u32(),
            let size = reader.u32(), let encodingCode = reader.u8(), let inset = reader.u32(), reader.atEnd
        else {
            return .failure(.init("result header is not 33 bytes"))
        }
        guard let encoding = MapEncoding(rawValue: encodingCode) else { return .failure(.init("unknown map encoding \(encodingCode)")) }
        guard size >= 1, Int(size) <= maxSize else { return .failure(.init("result size \(size) outside 1…\(maxSize)")) }
        if let error = insetError(inset, size: size) { return .failure(error) }
        let side = Int(size) - 2 * Int(inset)
        guard frames[1].count == side * side * encoding.bytesPerPixel else {
            return .failure(.init("result of \(side)² pixels carries \(frames[1].count) bytes"))
        }
        return .success(
            (
                Wire.TileResult(job: job, request: request, row: row, column: column, size: size, encoding: encoding, inset: inset),
                frames[1]
            ))
    }

    /// Why an inset is impossible for a tile of `size`: it must leave at least one pixel.
    private static func insetError(_ inset: UInt32, size: UInt32) -> WireError? {
        2 * UInt64(inset) < UInt64(size) ? nil : WireError("inset \(inset) leaves nothing of a \(size)-pixel tile")
    }

    static func flipCode(_ flips: FlipSet) -> UInt8 {
        switch flips {
        case .none: 0;
        case .h: 1;
        case .v: 2;
        case .hv: 3
        }
    }

    static func flipSet(_ code: UInt8) -> FlipSet? {
        switch code {
        case 0: FlipSet.none;
        case 1: .h;
        case 2: .v;
        case 3: .hv;
        default: nil
        }
    }
}

/// Appends little-endian integers.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
}

/// Reads little-endian integers, nil past the end.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { offset == bytes.count }
    mutating func u8() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }
    mutating func u32() -> UInt32? {
        guard offset + 4 <= bytes.count else { return nil }
        defer { offset += 4 }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
    mutating func u64() -> UInt64? {
        guard offset + 8 <= bytes.count else { return nil }
        defer { offset += 8 }
        return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * $1) }
    }
}
