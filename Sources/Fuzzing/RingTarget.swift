import Shared

/// Fuzzes what a ring member does with a message on its socket (`RingAllReduce.verdict`):
/// whatever comes, the verdict never traps; a segment is taken only when it is exactly the
/// one due, dropped only when it is of an earlier epoch, kept only when of a later one.
enum RingTarget {
    static let epoch: UInt16 = 5
    static let values = 16
    static let expected = RingAllReduce.header(phase: .reduceScatter, epoch: epoch, round: 7, chunk: 1, offset: 16)

    static func run(_ input: FuzzInput) {
        for message in input.messages {
            let frames = message.frames
            let verdict = withPointers(frames[...]) { RingAllReduce.verdict($0, expected: expected, values: values) }
            let segmentEpoch = frames.count == 2 ? frames[0].withUnsafeBytes { RingAllReduce.epoch(ofHeader: $0) } : nil
            switch verdict {
            case .take:
                fuzzCheck(frames.count == 2 && frames[0] == expected && frames[1].count == values * 4, "took a segment that is not the one due")
            case .drop:
                fuzzCheck(segmentEpoch.map { RingAllReduce.epochOrder($0, against: epoch) < 0 } ?? false, "dropped a message not of an earlier epoch")
            case .keep:
                fuzzCheck(segmentEpoch.map { RingAllReduce.epochOrder($0, against: epoch) > 0 } ?? false, "kept a message not of a later epoch")
            case .unexpected:
                fuzzCheck(!(frames.count == 2 && frames[0] == expected && frames[1].count == values * 4), "refused the segment due")
            }
        }
    }

    static func withPointers<R>(_ frames: ArraySlice<[UInt8]>, _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        guard let first = frames.first else { return body([]) }
        return first.withUnsafeBytes { pointer in withPointers(frames.dropFirst()) { body([pointer] + $0) } }
    }

    /// The segment due, and segments of earlier epochs (one, many, across the wrap of
    /// 2¹⁶), of later ones, of another round or chunk, cut short, or with a frame too many.
    static var seeds: [FuzzInput] {
        let payload = [UInt8](repeating: 0x3F, count: values * 4)
        func segment(_ epoch: UInt16, round: UInt64 = 7, chunk: Int = 1, _ payload: [UInt8] = payload) -> FuzzInput.Message {
            FuzzInput.Message(channel: 0, frames: [RingAllReduce.header(phase: .reduceScatter, epoch: epoch, round: round, chunk: chunk, offset: 16), payload])
        }
        let late = [segment(4), segment(1), segment(65_000), segment(0)]
        let early = [segment(6), segment(9), segment(32_000)]
        let other = [
            segment(5, round: 8), segment(5, chunk: 2), segment(5, Array(payload.prefix(8))),
            FuzzInput.Message(channel: 0, frames: [expected, payload, payload]), FuzzInput.Message(channel: 0, frames: [Array(expected.prefix(24)), payload]),
        ]
        return [FuzzInput([segment(5)]), FuzzInput(late + [segment(5)]), FuzzInput(early + late + [segment(5)]), FuzzInput(other)]
            + (late + early + other).map { FuzzInput([$0]) }
    }
}
