import Foundation

/// Files that are either wholly the old version or wholly the new one: written beside
/// their path under a temporary name, then renamed over it, so a crash never leaves half a
/// checkpoint or a truncated record.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let temporary = path + ".partial-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else { throw TesseraError(path, "cannot write") }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw TesseraError(path, "cannot move into place: \(reason)")
        }
    }
}
