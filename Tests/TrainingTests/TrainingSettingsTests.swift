import Foundation
import Testing

@testable import Training

/// The run's settings as JSON (run.json, and the text a cluster run sends to its workers).
@Suite struct TrainingSettingsTests {
    /// Every field may be absent, and choices travel by name.
    @Test func absentFieldsTakeTheirDefaultsAndChoicesTheirNames() throws {
        let defaults = try JSONDecoder().decode(TrainingSettings.self, from: Data("{}".utf8))
        #expect(defaults == TrainingSettings())
        let chosen = try JSONDecoder().decode(TrainingSettings.self, from: Data(#"{"optimizer": "sgd", "loss": "lovasz", "schedule": "cosine"}"#.utf8))
        #expect(chosen.optimizer == .sgd && chosen.loss == .lovasz && chosen.schedule == .cosine)
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(TrainingSettings())) as? [String: Any])
        #expect(json["optimizer"] as? String == "adamw" && json["loss"] as? String == "bce-dice" && json["schedule"] as? String == "onecycle")
    }

    /// An unknown choice is refused, naming the field and what it may be.
    @Test(arguments: [("optimizer", "adam", "adamw or sgd"), ("loss", "focal", "bce-dice, bce, dice or lovasz"), ("schedule", "step", "onecycle or cosine")])
    func anUnknownChoiceIsNamed(field: String, value: String, choices: String) {
        do {
            _ = try JSONDecoder().decode(TrainingSettings.self, from: Data(#"{"\#(field)": "\#(value)"}"#.utf8))
            Issue.record("\(field) \(value) was taken")
        } catch {
            #expect("\(error)".contains("\(field) \(value): \(choices)"), "\(error)")
        }
    }
}
