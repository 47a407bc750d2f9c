import Client
import Core
import Foundation
import Shared

/// Fuzzes a client's decisions on what the coordinator sends (`ClientSession`): submitting
/// the fixed slide, it answers fetches, follows progress and downloads a mask. A thrown
/// error (`failed`, `error`, a short chunk) is a clean end; only traps are findings. The
/// same messages go to a training client (`TrainingClientSession`), which follows a run
/// and downloads its model.
enum ClientTarget {
    static func run(_ input: FuzzInput) {
        runTraining(input)
        let size = (try? FileDigest.sampled(CoordinatorTarget.slidePath).size) ?? 0
        var session = ClientSession(job: nil, uploadSize: size, wantRLE: true)
        for message in input.messages {
            do {
                guard case .heard(let actions) = try session.handle(message.frames) else { continue }
                if actions.contains(where: { if case .done = $0 { true } else { false } }) { return }
            } catch {
                return
            }
        }
    }

    static func runTraining(_ input: FuzzInput) {
        var session = TrainingClientSession(job: nil)
        for message in input.messages {
            do {
                guard case .heard(let actions) = try session.handle(message.frames) else { continue }
                if actions.contains(where: { if case .done = $0 { true } else { false } }) { return }
            } catch {
                return
            }
        }
    }
}
