import Coordinator
import Core
import Foundation
import Segmentation
import Shared

/// Fuzzes a client's handling of what the coordinator sends (`ClientSession`): submitting
/// the fixed slide, it answers fetches, follows progress and downloads a mask. A thrown
/// error (`failed`, `error`, a short chunk) is a clean end; only traps are findings. The
/// same messages go to a training client (`TrainingClientSession`), which follows a run
/// and downloads its model.
enum ClientTarget {
    static func run(_ input: FuzzInput) {
        runTraining(input)
        let maskPath = CoordinatorTarget.folder + "/client-\(getpid()).tiff"
        defer { unlink(maskPath) }
        let upload = FileHandle(forReadingAtPath: CoordinatorTarget.slidePath)
        defer { try? upload?.close() }
        var sent = 0
        let size = (try? FileDigest.sampled(CoordinatorTarget.slidePath).size) ?? 0
        let session = ClientSession(job: nil, upload: upload, uploadSize: size, maskPath: maskPath, wantRLE: true) { _ in sent += 1 }
        for message in input.messages {
            do {
                if case .done = try session.handle(message.frames) { return }
            } catch {
                return
            }
        }
        _ = sent
    }

    static func runTraining(_ input: FuzzInput) {
        let modelPath = CoordinatorTarget.folder + "/client-\(getpid()).safetensors"
        defer { unlink(modelPath) }
        let session = TrainingClientSession(job: nil, modelPath: modelPath) { _ in }
        for message in input.messages {
            do {
                if case .done = try session.handle(message.frames) { return }
            } catch {
                return
            }
        }
    }
}
