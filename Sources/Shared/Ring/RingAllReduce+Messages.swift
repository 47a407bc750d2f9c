/// The ring link's messages (docs/PROTOCOL.md, "Ring link"): segment headers, what a
/// member does with a message it did not expect, and how a segment's values are taken.
extension RingAllReduce {
    package enum Phase: UInt8 { case reduceScatter = 1, allGather = 2 }

    /// "TRNG", version 1, phase, epoch (u16), round (u64), chunk (u32), first value (u64)
    /// of the segment within the buffer; little-endian.
    package static func header(phase: Phase, epoch: UInt16, round: UInt64, chunk: Int, offset: Int) -> [UInt8] {
        var bytes = Array("TRNG".utf8) + [1, phase.rawValue, UInt8(epoch & 0xFF), UInt8(epoch >> 8)]
        withUnsafeBytes(of: round.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt32(chunk).littleEndian) { bytes += $0 }
        withUnsafeBytes(of: UInt64(offset).littleEndian) { bytes += $0 }
        return bytes
    }

    /// The length of a segment's header (`header`).
    package static let headerBytes = 28

    /// How a segment's epoch stands to this member's: earlier segments are dropped, later
    /// ones (a predecessor already in the next ring) kept until this member gets there.
    /// Epochs compare as serial numbers, so they may wrap.
    package static func epochOrder(_ segment: UInt16, against current: UInt16) -> Int {
        let difference = Int16(bitPattern: segment &- current)
        return difference == 0 ? 0 : difference < 0 ? -1 : 1
    }

    /// What a member does with a message on its ring socket while it waits for the segment
    /// whose header is `expected`, of `values` floats (docs/PROTOCOL.md, "Ring link").
    package enum SegmentVerdict: Equatable {
        /// A segment of an earlier epoch, still in flight: dropped, uncounted.
        case drop
        /// A segment of a later epoch (a predecessor already in the next ring): kept for it.
        case keep
        /// The segment due: its values are taken.
        case take
        /// Anything else: the all-reduce fails, saying what came.
        case unexpected(String)
    }

    package static func verdict(_ frames: [UnsafeRawBufferPointer], expected: [UInt8], values: Int) -> SegmentVerdict {
        if frames.count == 2, let segmentEpoch = epoch(ofHeader: frames[0]), expected.count == headerBytes {
            switch epochOrder(segmentEpoch, against: UInt16(expected[6]) | UInt16(expected[7]) << 8) {
            case -1: return .drop
            case 1: return .keep
            default: break
            }
        }
        guard frames.count == 2, frames[0].elementsEqual(expected), frames[1].count == values * 4 else {
            return .unexpected(
                "\(frames.count) frames, header \(frames.first.map { $0.prefix(headerBytes).map { String($0, radix: 16) }.joined(separator: " ") } ?? "none")")
        }
        return .take
    }

    /// The epoch in a segment header, or nil when it is not one.
    package static func epoch(ofHeader bytes: UnsafeRawBufferPointer) -> UInt16? {
        guard bytes.count == headerBytes, bytes.prefix(5).elementsEqual(Array("TRNG".utf8) + [1]) else { return nil }
        return UInt16(bytes[6]) | UInt16(bytes[7]) << 8
    }

    /// Adds (reduce-scatter) or copies (all-gather) a segment's values into `buffer`.
    static func apply(_ raw: UnsafeRawBufferPointer, to buffer: UnsafeMutableBufferPointer<Float>, _ start: Int, _ end: Int, phase: Phase) {
        precondition(raw.count == (end - start) * 4 && end <= buffer.count)
        let target = buffer.baseAddress! + start
        guard phase == .reduceScatter else {
            UnsafeMutableRawPointer(target).copyMemory(from: raw.baseAddress!, byteCount: raw.count)
            return
        }
        // Received first: the sum runs in ring order from the chunk's index. Sixteen lanes
        // at a time add exactly as one at a time.
        let source = raw.baseAddress!, count = end - start
        var i = 0
        while i + 16 <= count {
            let sum = source.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) + UnsafeRawPointer(target + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(target + i).storeBytes(of: sum, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            target[i] = source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) + target[i]
            i += 1
        }
    }
}
