import Core
import Foundation
import Shared

/// What the coordinator keeps of each job on disk, so that a coordinator that crashes or
/// restarts loses none: `job.json` in the job's folder under the state directory,
/// rewritten (atomically) whenever the job changes state. On start the coordinator reads
/// them back: finished and failed jobs can still be attached to, jobs that were queued or
/// running run again from their first tile (the mask is the same), and uploads start over
/// when their client attaches again. The state directory is locked, so two coordinators
/// cannot share it.
final class JobJournal {
    /// One job as written to disk.
    struct Record: Codable, Equatable {
        var id: UInt64
        var name: String
        var slidePath: String
        var size: UInt64
        var digest: String
        var upload: Bool
        var state: SlideJobState
        var note: String?
        var finished: Wire.Finished?
        /// The slide's tile count, once known.
        var tiles: Int?
        /// When the job finished or failed, in seconds since 1970.
        var ended: Double?
        /// The slide's pixel size and organ as the submission gave them.
        var pixelSize: Double?
        var organ: String?
        /// Who reads the slide, as the submission asked.
        var reader: String?
    }

    let directory: String
    /// Held open while the journal lives: the lock on the state directory.
    private let lock: Int32

    /// Creates the state directory if needed and locks it.
    init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/coordinator.lock"
        let fd = open(path, O_RDWR | O_CREAT, 0o644)
        guard fd >= 0 else { throw TesseraError(path, "cannot open: \(String(cString: strerror(errno)))", code: .io) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw TesseraError(directory, "another coordinator is using this state directory", code: .refused)
        }
        lock = fd
    }

    /// Closing the file releases the lock.
    deinit { close(lock) }

    /// The folder of job `id`.
    func folder(of id: UInt64) -> String { directory + "/job-\(id)" }

    /// Writes a job's record (write to a temporary file, then rename).
    func save(_ record: Record) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try encoder.encode(record).write(to: URL(fileURLWithPath: folder(of: record.id) + "/job.json"), options: .atomic)
    }

    /// Every readable record, by id; unreadable ones are reported through `skipped`.
    func load(skipped: (String, Error) -> Void) -> [Record] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        var records: [Record] = []
        for name in names where name.hasPrefix("job-") {
            let path = directory + "/" + name + "/job.json"
            guard FileManager.default.fileExists(atPath: path) else { continue }
            do {
                let record = try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
                guard folder(of: record.id) == directory + "/" + name else { throw TesseraError(path, "holds job \(record.id)", code: .mismatch) }
                records.append(record)
            } catch {
                skipped(path, error)
            }
        }
        return records.sorted { $0.id < $1.id }
    }
}
