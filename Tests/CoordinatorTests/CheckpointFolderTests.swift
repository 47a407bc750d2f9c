import Foundation
import Shared
import TestSupport
import Testing

@testable import Coordinator

/// A training run's checkpoints on disk: a coordinator killed after writing a checkpoint's
/// files and before recording it must resume from the checkpoint its record names, whole.
/// (With one folder overwritten in place it resumed "step 4" from step 8's weights, and the
/// run stopped being the replay of its rings.)
@Suite struct CheckpointFolderTests {
    @Test func filesWrittenButNotRecordedLeaveTheRecordedCheckpointWhole() throws {
        let folder = try TemporaryDirectory()
        let plan = try #require(TrainingPlan(json: #"{"architecture":"effunet-b0","steps":10,"batch":6,"checkpointEvery":4,"validateEvery":0}"#))
        var record = TrainingJob.Record(id: 1, name: "r", member: "b0", data: "/d", weights: nil, settings: "{}")
        record.state = .running
        let job = TrainingJob(id: 1, directory: folder.path, member: 0, plan: plan, record: record, client: [])
        try TrainingJob.writeCheckpointFiles(directory: folder.path, step: 4, weights: [4], optimizer: [44], model: [40])
        job.losses = [1, 1, 1, 1]
        try job.recordCheckpoint(step: 4, dice: nil)
        // The next checkpoint's files are written; the coordinator dies before its record.
        try TrainingJob.writeCheckpointFiles(directory: folder.path, step: 8, weights: [8], optimizer: [88], model: [80])
        let restored = TrainingJob(id: 1, directory: folder.path, member: 0, plan: plan, record: try TrainingJob.load(job.recordPath), client: [])
        #expect(restored.checkpointStep == 4 && restored.machine.hasCheckpoint)
        #expect(try Data(contentsOf: URL(fileURLWithPath: restored.weightsPath)) == Data([4]))
        #expect(try Data(contentsOf: URL(fileURLWithPath: restored.optimizerPath)) == Data([44]))
        // Once the newer one is recorded, the older folder goes.
        job.losses += [1, 1, 1, 1]
        try job.recordCheckpoint(step: 8, dice: nil)
        TrainingJob.removeCheckpoints(directory: folder.path, except: 8)
        #expect(!FileManager.default.fileExists(atPath: folder.path + "/" + CheckpointLayout.folder(step: 4)))
        #expect(try Data(contentsOf: URL(fileURLWithPath: job.weightsPath)) == Data([8]))
    }
}
