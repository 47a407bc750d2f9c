import Core
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Slots in shared memory through which a ring member hands segments to its successor on
/// the same machine: the member copies a segment into a slot and sends only a reference
/// over its ipc link; the successor adds (or copies) straight from the slot and counts it
/// consumed. Over a socket the same segment is copied twice more by the kernel, and once
/// more into a message of libzmq's (docs/PROTOCOL.md, "Ring link").
///
/// A region is a file in /dev/shm, `tessera-ring-PID-UUID`: a 64-byte header ("TSHM",
/// version u32 1, slots u32, values a slot u32, then at offset 16 the count of segments
/// consumed, u64, written by the successor) and `slots` slots of float32 values. The
/// member that writes it creates it and removes it when it is done with it; files of
/// processes that died are removed by the next region created on the machine.
final class SegmentRegion {
    let path: String
    let slots: Int
    let slotValues: Int
    private let base: UnsafeMutableRawPointer
    private let length: Int
    private let owned: Bool

    static let folder = "/dev/shm/"
    static let prefix = "tessera-ring-"
    private static let headerBytes = 64
    private static let magic: [UInt8] = Array("TSHM".utf8)

    /// A new region of `slots` slots of `slotValues` values, nothing consumed.
    init(slots: Int, slotValues: Int) throws {
        precondition(slots > 0 && slotValues > 0)
        Self.removeOrphans()
        path = Self.folder + Self.newName()
        self.slots = slots
        self.slotValues = slotValues
        length = Self.headerBytes + slots * slotValues * 4
        owned = true
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TesseraError(path, "cannot create a shared-memory region: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        // Reserved whole: a sparse file on a full tmpfs would fault on first write instead.
        let reserved = posix_fallocate(fd, 0, off_t(length))
        guard reserved == 0, let mapped = Self.map(fd, length: length) else {
            unlink(path)
            throw TesseraError(
                path, "cannot reserve or map a shared-memory region of \(length) bytes: \(String(cString: strerror(reserved != 0 ? reserved : errno)))")
        }
        base = mapped
        var header = Self.magic
        for field in [UInt32(1), UInt32(slots), UInt32(slotValues)] { withUnsafeBytes(of: field.littleEndian) { header += $0 } }
        base.copyMemory(from: header, byteCount: header.count)
        consumedCounter.initialize(to: Atomic(0))
    }

    /// A predecessor's region, named by a segment reference. Only Tessera's region files
    /// are opened, and only whole, well-formed ones.
    init(opening path: String) throws {
        let name = path.hasPrefix(Self.folder) ? String(path.dropFirst(Self.folder.count)) : ""
        guard name.hasPrefix(Self.prefix), !name.contains("/"), name.count <= 128 else {
            throw TesseraError("ring", "a segment reference names \(path.prefix(160)), which is not a ring region")
        }
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw TesseraError(path, "cannot open the predecessor's region: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_size >= Self.headerBytes, let mapped = Self.map(fd, length: Int(status.st_size)) else {
            throw TesseraError(path, "the predecessor's region is not a ring region")
        }
        let length = Int(status.st_size)
        func field(_ offset: Int) -> Int { Int(UInt32(littleEndian: mapped.loadUnaligned(fromByteOffset: offset, as: UInt32.self))) }
        let header = UnsafeRawBufferPointer(start: mapped, count: 4)
        guard header.elementsEqual(Self.magic), field(4) == 1, field(8) > 0, field(12) > 0,
            field(8) <= (length - Self.headerBytes) / 4 / field(12), Self.headerBytes + field(8) * field(12) * 4 == length
        else {
            munmap(mapped, length)
            throw TesseraError(path, "the predecessor's region is not a ring region")
        }
        self.path = path
        base = mapped
        self.length = length
        slots = field(8)
        slotValues = field(12)
        owned = false
    }

    deinit {
        munmap(base, length)
        if owned { unlink(path) }
    }

    private static func map(_ fd: Int32, length: Int) -> UnsafeMutableRawPointer? {
        let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        return mapped == MAP_FAILED ? nil : mapped
    }

    private var consumedCounter: UnsafeMutablePointer<Atomic<UInt64>> {
        (base + 16).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// Segments the successor has consumed (taken, kept or dropped) so far.
    var consumed: UInt64 { consumedCounter.pointee.load(ordering: .acquiring) }

    /// Counts segment `sequence` (numbered from 0) consumed, and every one before it.
    func markConsumed(through sequence: UInt64) {
        consumedCounter.pointee.store(sequence &+ 1, ordering: .releasing)
    }

    /// The values of slot `index`.
    func slot(_ index: Int) -> UnsafeMutablePointer<Float> {
        precondition(index >= 0 && index < slots)
        return (base + Self.headerBytes).assumingMemoryBound(to: Float.self) + index * slotValues
    }

    /// A new empty file named as a region, by which a member shows its successor's
    /// predecessor which /dev/shm it sees (containers may each have their own); nil where
    /// there is no /dev/shm to write.
    static func marker() -> String? {
        removeOrphans()
        let name = newName()
        let fd = Glibc.open(folder + name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        close(fd)
        return name
    }

    /// Whether `name` (a `marker`) is in the /dev/shm this process sees.
    static func sees(_ name: Substring) -> Bool {
        name.hasPrefix(prefix) && !name.contains("/") && FileManager.default.fileExists(atPath: folder + name)
    }

    /// A fresh file name of this process's: `prefix`, PID, "-", a UUID (`removeOrphans`
    /// reads the PID back).
    private static func newName() -> String { prefix + "\(getpid())-\(UUID().uuidString.lowercased())" }

    /// Removes the region files of processes that are gone (killed before they could).
    static func removeOrphans() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count).prefix { $0 != "-" }), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + name) }
        }
    }
}
