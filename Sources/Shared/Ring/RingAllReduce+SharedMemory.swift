import Core
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Segments through shared memory to a successor on this machine (`SegmentRegion`): a
/// message carries the segment's header, a reference to its slot and the region's path
/// in place of the values (docs/PROTOCOL.md, "Ring link").
extension RingAllReduce {

    /// Makes sure the outbox holds a round's segments with room to spare, so that no ring of
    /// members each waiting for a free slot can form: a member is never more than a
    /// chunk's segments ahead of what it has received, so every link holds at most
    /// members × that many; twice a chunk's segments and two more are kept free of it.
    func prepareOutbox(_ plan: RingPlan) throws {
        guard sharedLink else { return }
        let largest = plan.chunk(0).count
        let slots = 2 * ((largest + segmentValues - 1) / segmentValues) + 2
        let slotValues = min(segmentValues, max(largest, 1))
        if let outbox, outbox.slots >= slots, outbox.slotValues >= slotValues { return }
        // A smaller region is given up once the successor has taken all it held.
        if let outbox { try waitUntilConsumed(outbox, sequence: outboxSent, freeing: outbox.slots) }
        do {
            outbox = try SegmentRegion(slots: slots, slotValues: slotValues)
        } catch {
            outbox = nil
            sharedLink = false  // no shared memory here: segments go in messages
        }
        outboxSent = 0
    }

    /// Copies `values` into the outbox's next slot, once the successor has taken what was
    /// there, and sends their reference.
    func sendShared(_ values: UnsafeBufferPointer<Float>, header: [UInt8], through outbox: SegmentRegion) throws {
        let sequence = outboxSent
        try waitUntilConsumed(outbox, sequence: sequence, freeing: 1)
        let slot = Int(sequence % UInt64(outbox.slots))
        outbox.slot(slot).update(from: values.baseAddress!, count: values.count)
        var reference: [UInt8] = []
        withUnsafeBytes(of: sequence.littleEndian) { reference += $0 }
        withUnsafeBytes(of: UInt32(slot).littleEndian) { reference += $0 }
        withUnsafeBytes(of: UInt32(values.count).littleEndian) { reference += $0 }
        try sender.send([header, reference, Array(outbox.path.utf8)])
        outboxSent += 1
    }

    /// Waits until the successor has consumed enough of `region`'s segments before
    /// `sequence` that `freeing` slots are free for it.
    private func waitUntilConsumed(_ region: SegmentRegion, sequence: UInt64, freeing: Int) throws {
        let needed = sequence + UInt64(freeing)
        guard needed > UInt64(region.slots) else { return }
        let deadline = waitDeadline()
        var spins = 0
        while region.consumed + UInt64(region.slots) < needed {
            _ = try remaining(until: deadline) { successorSilence }
            spins += 1
            if spins < 64 { sched_yield() } else { usleep(100) }
        }
    }

    /// Calls `body` with a message whose values are the segment itself: a message naming a
    /// slot of the predecessor's region is given its values from there (and the slot counted
    /// consumed after `body`); any other message is passed as it is, for the verdict. A
    /// segment of an earlier epoch is dropped without its region being opened.
    func resolvingReference<R>(_ frames: [UnsafeRawBufferPointer], _ body: ([UnsafeRawBufferPointer]) throws -> R) throws -> R {
        guard frames.count == 3, frames[1].count == 16, let segmentEpoch = Self.epoch(ofHeader: frames[0]) else { return try body(frames) }
        if Self.epochOrder(segmentEpoch, against: epoch) < 0 { return try body([frames[0], UnsafeRawBufferPointer(start: nil, count: 0)]) }
        let sequence = frames[1].loadUnaligned(as: UInt64.self).littleEndian
        let slot = Int(frames[1].loadUnaligned(fromByteOffset: 8, as: UInt32.self).littleEndian)
        let count = Int(frames[1].loadUnaligned(fromByteOffset: 12, as: UInt32.self).littleEndian)
        let path = String(decoding: frames[2], as: UTF8.self)
        if inbox?.path != path { inbox = try SegmentRegion(opening: path) }
        guard let region = inbox, slot < region.slots, count <= region.slotValues else { return try body(frames) }
        defer { region.markConsumed(through: sequence) }
        return try body([frames[0], UnsafeRawBufferPointer(start: region.slot(slot), count: count * 4)])
    }
}
