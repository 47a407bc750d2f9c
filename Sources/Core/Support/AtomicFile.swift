import Foundation

/// A file written beside its destination under a hidden temporary name
/// (`.NAME.partial-PID`) and renamed over it only when whole: a crash, an error or an
/// abandoned download leaves the destination as it was, and the temporary is removed when
/// the value goes without `commit`. Writers that take a path (libtiff) write to `path`.
public final class PartialFile {
    /// Where the file goes once whole.
    public let destination: String
    /// The temporary being written.
    public let path: String
    private var handle: FileHandle?
    private var committed = false

    /// Creates the temporary, empty; with `open`, a handle to write it through.
    public init(for destination: String, open: Bool = true) throws {
        self.destination = destination
        let url = URL(fileURLWithPath: destination)
        path = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial-\(getpid())").path
        guard open else { return }
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw TesseraError(destination, "cannot create the file (\(String(cString: strerror(errno))))", code: .io)
        }
        self.handle = handle
    }

    deinit {
        try? handle?.close()
        if !committed { unlink(path) }
    }

    public func append(_ data: Data) throws {
        guard let handle else { throw TesseraError(destination, "written after it was moved into place", code: .io) }
        try handle.write(contentsOf: data)
    }

    public func write(_ data: Data, at offset: UInt64) throws {
        guard let handle else { throw TesseraError(destination, "written after it was moved into place", code: .io) }
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: data)
    }

    /// Closes the temporary and renames it over the destination.
    public func commit() throws {
        try handle?.close()
        handle = nil
        guard rename(path, destination) == 0 else {
            throw TesseraError(destination, "cannot move the finished file into place: \(String(cString: strerror(errno)))", code: .io)
        }
        committed = true
    }
}

/// Files that are either wholly the old version or wholly the new one (checkpoints,
/// records): a `PartialFile` written at once.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let file = try PartialFile(for: path)
        try file.append(data)
        try file.commit()
    }
}
