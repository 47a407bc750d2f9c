import Core
import Foundation

/// A training run's `job.json` (docs/FORMATS.md): what was asked, how far it got, the rings
/// it ran with. The coordinator keeps it; `tessera train --replay` reads it.
public struct TrainingRunRecord: Codable, Equatable, Sendable {
    public var id: UInt64
    public var name: String
    public var member: String
    public var data: String
    public var weights: String?
    /// The settings' JSON, as submitted (written into job.json as an object, `EmbeddedJSON`).
    public var settings: String
    public var state: TrainingRunState
    public var note: String?
    /// Steps in the last checkpoint.
    public var step: Int
    /// The global batch's loss at each committed step up to `step`.
    public var losses: [Double]
    public var validation: [Wire.TrainDice]
    /// FNV-1a of train.csv as the first worker read it.
    public var dataDigest: String?
    /// The ring each epoch ran with, from the step it started at.
    public var rings: [RingChange]
    public var ended: Double?
    /// Seconds of training (ring steps) over the run's whole life.
    public var seconds: Double?

    public struct RingChange: Codable, Equatable, Sendable {
        public var step: Int
        public var epoch: Int
        public var workers: [String]

        public init(step: Int, epoch: Int, workers: [String]) {
            self.step = step
            self.epoch = epoch
            self.workers = workers
        }
    }

    /// A new run's record: queued, at step 0.
    public init(id: UInt64, name: String, member: String, data: String, weights: String?, settings: String) {
        self.id = id
        self.name = name
        self.member = member
        self.data = data
        self.weights = weights
        self.settings = settings
        state = .queued
        step = 0
        losses = []
        validation = []
        rings = []
        seconds = 0
    }

    /// The ring size step `step` (from 0) ran with.
    public func ringSize(atStep step: Int) -> Int { rings.last { $0.step <= step }?.workers.count ?? 1 }

    /// The record in `path`.
    public static func read(_ path: String) throws -> TrainingRunRecord {
        do {
            return try JSONDecoder().decode(Self.self, from: try EmbeddedJSON.quote(Data(contentsOf: URL(fileURLWithPath: path)), key: "settings"))
        } catch let error as DecodingError {
            throw TesseraError(path, "not a training run's job.json: \(error)", code: .malformed)
        }
    }

    /// The record as job.json holds it, its settings as an object.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return try EmbeddedJSON.inline(try encoder.encode(self), key: "settings", text: settings)
    }
}
