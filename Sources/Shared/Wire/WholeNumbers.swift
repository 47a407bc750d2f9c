import Foundation

/// The wire's rule for integers (docs/PROTOCOL.md, "Field types"): a field of an integer
/// type is written without fraction or exponent. Foundation's JSONDecoder takes `10.0` or
/// `1e1` for an `Int`; this finds such numbers where the decoded value holds an integer.
public enum WholeNumbers {
    /// An integer field written with a fraction or an exponent, at `path`.
    public struct Violation: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "\(path) is an integer written with a fraction or an exponent" }
    }

    /// `T` decoded from `json` under the wire's rule for integers: what every JSON the wire
    /// carries is read with. Throws `Violation`, or the decoder's error.
    public static func decode<T: Decodable>(_ type: T.Type, from json: [UInt8]) throws -> T {
        let value = try JSONDecoder().decode(T.self, from: Data(json))
        if let path = violation(in: json, decoded: value) { throw Violation(path: path) }
        return value
    }

    /// The first field of `value` (decoded from `json`) that is of an integer type and was
    /// written with a fraction or an exponent, as a path (`a.b`, `*` for array elements).
    public static func violation(in json: [UInt8], decoded value: Any) -> String? {
        let written = fractionalPaths(json)
        guard !written.isEmpty else { return nil }
        var integers = Set<String>()
        collectIntegerPaths(value, prefix: "", into: &integers)
        return written.intersection(integers).sorted().first
    }

    /// The paths of the numbers in `json` written with a fraction or an exponent. Malformed
    /// JSON gives what it gives: the decoder has accepted the text already.
    static func fractionalPaths(_ json: [UInt8]) -> Set<String> {
        enum Container { case object(key: String?), array }
        var stack: [Container] = []
        var expectingKey = false
        var paths = Set<String>()
        var i = 0
        func path() -> String {
            stack.map { if case .object(let key) = $0 { key ?? "" } else { "*" } }.joined(separator: ".")
        }
        while i < json.count {
            let byte = json[i]
            switch byte {
            case UInt8(ascii: "{"): stack.append(.object(key: nil)); expectingKey = true; i += 1
            case UInt8(ascii: "["): stack.append(.array); expectingKey = false; i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = stack.popLast(); i += 1
            case UInt8(ascii: ","):
                if case .object? = stack.last { expectingKey = true }
                i += 1
            case UInt8(ascii: "\""):
                var j = i + 1
                var text: [UInt8] = []
                while j < json.count && json[j] != UInt8(ascii: "\"") {
                    if json[j] == UInt8(ascii: "\\") { j += 1 }
                    if j < json.count { text.append(json[j]) }
                    j += 1
                }
                if expectingKey, case .object? = stack.last {
                    stack[stack.count - 1] = .object(key: String(decoding: text, as: UTF8.self))
                    expectingKey = false
                }
                i = j + 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                var j = i
                var fractional = false
                while j < json.count, let c = Optional(json[j]),
                    c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                        || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
                {
                    if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { fractional = true }
                    j += 1
                }
                if fractional { paths.insert(path()) }
                i = j
            default: i += 1
            }
        }
        return paths
    }

    /// The paths of the stored properties of an integer type in `value`, through optionals,
    /// nested values and arrays.
    static func collectIntegerPaths(_ value: Any, prefix: String, into paths: inout Set<String>) {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            if let wrapped = mirror.children.first { collectIntegerPaths(wrapped.value, prefix: prefix, into: &paths) }
            return
        case .collection, .set:
            for element in mirror.children { collectIntegerPaths(element.value, prefix: prefix.isEmpty ? "*" : prefix + ".*", into: &paths) }
            return
        default: break
        }
        if value is any BinaryInteger {
            paths.insert(prefix)
            return
        }
        for child in mirror.children {
            guard let label = child.label else { continue }
            collectIntegerPaths(child.value, prefix: prefix.isEmpty ? label : prefix + "." + label, into: &paths)
        }
    }
}
