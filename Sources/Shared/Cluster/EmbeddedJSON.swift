import Foundation

/// A JSON text kept verbatim inside a record as an object, not as a string: a training
/// run's settings in `job.json` are written as `run.json` writes them, and read back as the
/// same text (the run is a function of it), whichever form an older file has.
public enum EmbeddedJSON {
    /// `record` (a JSON object) with the string value of its top-level `key` — which must be
    /// `text`, a JSON object — written as that object.
    public static func inline(_ record: Data, key: String, text: String) throws -> Data {
        let quoted = try JSONEncoder().encode(text)
        guard let range = valueRange(in: record, key: key), record[range] == quoted else { return record }
        var result = record
        result.replaceSubrange(range, with: Data(text.utf8))
        return result
    }

    /// `record` with the object value of its top-level `key`, if it is one, written as a
    /// string holding its text: what a `Decodable` with a `String` field reads.
    public static func quote(_ record: Data, key: String) throws -> Data {
        guard let range = valueRange(in: record, key: key), record[range.lowerBound] == UInt8(ascii: "{") else { return record }
        var result = record
        result.replaceSubrange(range, with: try JSONEncoder().encode(String(decoding: record[range], as: UTF8.self)))
        return result
    }

    /// The byte range of the value of top-level `key` in a JSON object.
    static func valueRange(in json: Data, key: String) -> Range<Int>? {
        let bytes = [UInt8](json)
        var depth = 0, i = 0
        var expectingKey = false
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectingKey = depth == 1 && bytes[i] == UInt8(ascii: "{")
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1; i += 1
            case UInt8(ascii: ","): expectingKey = depth == 1; i += 1
            case UInt8(ascii: "\""):
                let end = stringEnd(bytes, from: i)
                if expectingKey, depth == 1, String(decoding: bytes[(i + 1)..<(end - 1)], as: UTF8.self) == key {
                    var j = end
                    while j < bytes.count, bytes[j] == UInt8(ascii: ":") || bytes[j] == 0x20 || bytes[j] == 0x0A || bytes[j] == 0x09 || bytes[j] == 0x0D {
                        j += 1
                    }
                    let valueEnd = self.valueEnd(bytes, from: j)
                    return j < valueEnd ? json.startIndex + j..<json.startIndex + valueEnd : nil
                }
                expectingKey = false
                i = end
            default: i += 1
            }
        }
        return nil
    }

    /// The index after the string starting at `start` (its opening quote).
    private static func stringEnd(_ bytes: [UInt8], from start: Int) -> Int {
        var i = start + 1
        while i < bytes.count && bytes[i] != UInt8(ascii: "\"") { i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1 }
        return min(i + 1, bytes.count)
    }

    /// The index after the value starting at `start`.
    private static func valueEnd(_ bytes: [UInt8], from start: Int) -> Int {
        guard start < bytes.count else { return start }
        if bytes[start] == UInt8(ascii: "\"") { return stringEnd(bytes, from: start) }
        if bytes[start] == UInt8(ascii: "{") || bytes[start] == UInt8(ascii: "[") {
            var depth = 0, i = start
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\""): i = stringEnd(bytes, from: i); continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    depth -= 1
                    if depth == 0 { return i + 1 }
                default: break
                }
                i += 1
            }
            return bytes.count
        }
        var i = start
        while i < bytes.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")].contains(bytes[i]) { i += 1 }
        return i
    }
}
