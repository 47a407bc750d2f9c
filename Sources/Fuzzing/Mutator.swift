/// Seeded mutations of fuzz inputs, for the fuzzer that needs no compiler support
/// (`SeededFuzzer`): the same seed gives the same inputs on every machine. The mutations
/// are libFuzzer's usual ones plus two that aim at the wire: integers at the edges of
/// their types, and JSON numbers replaced by awkward ones.
public struct Mutator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// SplitMix64.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func below(_ n: Int) -> Int { n <= 1 ? 0 : Int(next() % UInt64(n)) }

    static let interestingIntegers: [UInt64] = [
        0, 1, 2, 3, 15, 16, 31, 32, 33, 64, 100, 127, 128, 255, 256, 0x7FFF, 0xFFFF, 0x10000,
        0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF,
        0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
    ]
    static let interestingNumbers = [
        "0", "-1", "1.5", "1e308", "-0", "9223372036854775807", "9223372036854775808",
        "18446744073709551615", "18446744073709551616", "4294967296", "2147483648", "null", "\"7\"",
        "[]", "{}", "true", "99999999999999999999999999",
    ]

    /// `bytes` changed by one to four mutations, sometimes spliced with `other`. Most
    /// mutations keep the input's layout (`FuzzInput`) and change one frame or the order of
    /// messages, so that short frames — headers, JSON bodies — are hit as often as long ones.
    public mutating func mutate(_ bytes: [UInt8], other: [UInt8]) -> [UInt8] {
        var out = bytes
        for _ in 0...below(4) {
            out = below(5) == 0 ? once(out, other: other) : structured(out, other: other)
        }
        return out
    }

    /// One mutation of one frame, or of the sequence of messages.
    private mutating func structured(_ bytes: [UInt8], other: [UInt8]) -> [UInt8] {
        var input = FuzzInput(bytes: bytes)
        guard !input.messages.isEmpty else { return once(bytes, other: other) }
        let m = below(input.messages.count)
        switch below(10) {
        case 0:
            input.messages.insert(input.messages[m], at: below(input.messages.count + 1))
        case 1 where input.messages.count > 1:
            input.messages.remove(at: m)
        case 2:
            let donor = FuzzInput(bytes: other).messages
            if !donor.isEmpty { input.messages.insert(donor[below(donor.count)], at: below(input.messages.count + 1)) }
        case 3:
            input.messages[m].channel = UInt8(truncatingIfNeeded: next())
        default:
            let f = below(input.messages[m].frames.count)
            let frame = once(input.messages[m].frames[f], other: [])
            input.messages[m].frames[f] = Array(frame.prefix(0xFFFF))
        }
        if input.messages.count > FuzzInput.maxMessages { input.messages.removeLast(input.messages.count - FuzzInput.maxMessages) }
        return input.bytes
    }

    private mutating func once(_ bytes: [UInt8], other: [UInt8]) -> [UInt8] {
        var out = bytes
        if out.isEmpty { return [UInt8(truncatingIfNeeded: next())] }
        let at = below(out.count)
        switch below(9) {
        case 0:
            out[at] ^= 1 << UInt8(below(8))
        case 1:
            out[at] = [0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x22, 0x2C, 0x7B, 0x7D][below(10)]
        case 2, 3:
            let width = [1, 2, 4, 8][below(4)]
            let value = Self.interestingIntegers[below(Self.interestingIntegers.count)]
            for i in 0..<width where at + i < out.count { out[at + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        case 4:
            out.removeSubrange(at..<min(out.count, at + 1 + below(16)))
        case 5:
            let length = 1 + below(min(64, out.count - at))
            out.insert(contentsOf: out[at..<(at + length)], at: below(out.count))
        case 6:
            out.insert(contentsOf: (0...below(8)).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
        case 7:
            guard !other.isEmpty else { return out }
            let cut = below(other.count)
            out = Array(out[..<at]) + other[cut...]
        default:
            out = replaceNumber(in: out, near: at)
        }
        return out
    }

    /// Replaces the first run of digits at or after `start` with an awkward JSON value.
    private mutating func replaceNumber(in bytes: [UInt8], near start: Int) -> [UInt8] {
        guard let first = bytes[start...].firstIndex(where: { (0x30...0x39).contains($0) }) else { return bytes }
        var end = first
        while end < bytes.count, (0x30...0x39).contains(bytes[end]) || bytes[end] == 0x2E { end += 1 }
        var out = bytes
        out.replaceSubrange(first..<end, with: Array(Self.interestingNumbers[below(Self.interestingNumbers.count)].utf8))
        return out
    }
}
