import Core
import Foundation

/// A `.safetensors` file: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the raw little-endian data.
///
/// Everything is checked before use — header length, JSON, dtypes, shapes against byte
/// counts, ranges inside the data and not overlapping — so a truncated or hostile file
/// fails with a reason instead of a crash. F32, F16 and BF16 tensors read as Float.
public struct SafeTensors {
    public struct Entry: Sendable, Equatable {
        public let dtype: String
        public let shape: [Int]
        let range: Range<Int>
    }

    public let path: String
    public private(set) var entries: [String: Entry] = [:]
    /// The header's `__metadata__` (text to text), e.g. Tessera's `pixel_size`.
    public private(set) var metadata: [String: String] = [:]
    private let data: Data
    private let dataStart: Int

    /// The names of every tensor, sorted.
    public var names: [String] { entries.keys.sorted() }

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw TesseraError(path, "cannot read the weights file", code: .io) }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "weights") throws {
        self.path = path
        self.data = data
        guard data.count >= 8 else { throw TesseraError(path, "too short to be a safetensors file (\(data.count) bytes)", code: .malformed) }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength >= 2, headerLength <= 100_000_000, Int(headerLength) <= data.count - 8 else {
            throw TesseraError(
                path, "header length \(headerLength) does not fit the file's \(data.count) bytes: truncated or not safetensors", code: .malformed)
        }
        dataStart = 8 + Int(headerLength)
        let header = data.subdata(in: 8..<dataStart)
        guard let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any] else {
            throw TesseraError(path, "the header is not a JSON object", code: .malformed)
        }
        let available = data.count - dataStart
        var ranges: [(Range<Int>, String)] = []
        metadata = (json["__metadata__"] as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
        for (name, value) in json where name != "__metadata__" {
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw TesseraError(path, "tensor \(name): malformed header entry", code: .malformed)
            }
            guard let size = Self.byteSize(dtype) else { throw TesseraError(path, "tensor \(name): unsupported dtype \(dtype)", code: .unsupported) }
            guard shape.allSatisfy({ $0 >= 0 }), offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= available else {
                throw TesseraError(path, "tensor \(name): byte range \(offsets) outside the \(available) bytes of data (truncated?)", code: .malformed)
            }
            let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            guard count * size == offsets[1] - offsets[0] else {
                throw TesseraError(
                    path, "tensor \(name): shape \(shape) of \(dtype) needs \(count * size) bytes, the file gives \(offsets[1] - offsets[0])", code: .malformed)
            }
            entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
            ranges.append((offsets[0]..<offsets[1], name))
        }
        ranges.sort { $0.0.lowerBound < $1.0.lowerBound }
        for (a, b) in zip(ranges, ranges.dropFirst()) where a.0.upperBound > b.0.lowerBound {
            throw TesseraError(path, "tensors \(a.1) and \(b.1) overlap", code: .malformed)
        }
    }

    /// The `__metadata__` of the file at `path`, reading its header alone; empty when it has
    /// none or is not safetensors.
    public static func metadata(atPath path: String) -> [String: String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [:] }
        defer { try? handle.close() }
        guard let length = try? handle.read(upToCount: 8), length.count == 8 else { return [:] }
        let count = length.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard count >= 2, count <= 100_000_000, let header = try? handle.read(upToCount: Int(count)),
            let json = try? JSONSerialization.jsonObject(with: header) as? [String: Any]
        else { return [:] }
        return (json["__metadata__"] as? [String: Any])?.compactMapValues { $0 as? String } ?? [:]
    }

    /// The pixel size (µm) a Tessera-trained weights file says it was trained at.
    public static func trainedPixelSize(atPath path: String) -> Double? {
        metadata(atPath: path)["pixel_size"].flatMap(Double.init).flatMap { $0 > 0 && $0.isFinite ? $0 : nil }
    }

    static func byteSize(_ dtype: String) -> Int? {
        switch dtype {
        case "F64", "I64", "U64": 8
        case "F32", "I32", "U32": 4
        case "F16", "BF16", "I16", "U16": 2
        case "I8", "U8", "BOOL": 1
        default: nil
        }
    }

    /// The values of tensor `name` as Float, row-major.
    public func floats(_ name: String) throws -> [Float] {
        guard let entry = entries[name] else { throw TesseraError(path, "no tensor \(name)", code: .notFound) }
        guard ["F32", "F16", "BF16", "F64"].contains(entry.dtype) else {
            throw TesseraError(path, "tensor \(name) holds \(entry.dtype), not floating-point values", code: .mismatch)
        }
        let bytes = data.subdata(in: (dataStart + entry.range.lowerBound)..<(dataStart + entry.range.upperBound))
        return bytes.withUnsafeBytes { raw in
            switch entry.dtype {
            case "F32":
                return (0..<(raw.count / 4)).map { Float(bitPattern: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self).littleEndian) }
            case "F64":
                return (0..<(raw.count / 8)).map { Float(Double(bitPattern: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self).littleEndian)) }
            case "F16":
                return (0..<(raw.count / 2)).map { Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian)) }
            default:  // BF16: the top half of a float32
                return (0..<(raw.count / 2)).map { Float(bitPattern: UInt32(raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self).littleEndian) << 16) }
            }
        }
    }

    /// How floating-point values are stored: float32, or float16 (half the size; PyTorch
    /// loads either into a float32 module).
    public enum Precision: String, Sendable {
        case float32, float16

        var dtype: String { self == .float32 ? "F32" : "F16" }
        var bytes: Int { self == .float32 ? 4 : 2 }
    }

    /// Writes float tensors as a safetensors file (tests, tools, converted weights).
    public static func write(
        _ tensors: [(name: String, shape: [Int], values: [Float])], to path: String,
        metadata: [String: String] = [:], precision: Precision = .float32
    ) throws {
        let file = try encode(tensors, metadata: metadata, precision: precision)
        guard FileManager.default.createFile(atPath: path, contents: file) else { throw TesseraError(path, "cannot write", code: .io) }
    }

    /// Float tensors in the safetensors format, in memory (a replica's state on the wire),
    /// with `metadata` as the header's `__metadata__` when there is any. Float16 rounds to
    /// nearest (even), and refuses values beyond its range rather than store infinities.
    public static func encode(
        _ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:],
        precision: Precision = .float32
    ) throws -> Data {
        var header: [String: Any] = metadata.isEmpty ? [:] : ["__metadata__": metadata]
        var offset = 0
        var body = Data()
        for tensor in tensors {
            precondition(tensor.values.count == tensor.shape.reduce(1, *))
            let size = tensor.values.count * precision.bytes
            header[tensor.name] = ["dtype": precision.dtype, "shape": tensor.shape, "data_offsets": [offset, offset + size]]
            switch precision {
            case .float32:
                for v in tensor.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { body.append(contentsOf: $0) } }
            case .float16:
                for v in tensor.values {
                    let half = Float16(v)
                    guard half.isFinite || !v.isFinite else {
                        throw TesseraError(tensor.name, "holds \(v), beyond float16's range (±65504): keep this file in float32")
                    }
                    withUnsafeBytes(of: half.bitPattern.littleEndian) { body.append(contentsOf: $0) }
                }
            }
            offset += size
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var file = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        file.append(body)
        return file
    }
}
