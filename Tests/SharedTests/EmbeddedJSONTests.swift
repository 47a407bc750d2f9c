import Foundation
import Shared
import Testing

/// A run's settings in job.json: an object, as in run.json, read back as the same text.
@Suite struct EmbeddedJSONTests {
    struct Record: Codable, Equatable { var id: Int; var settings: String; var note: String? }

    @Test func settingsAreWrittenAsAnObjectAndReadBackVerbatim() throws {
        let settings = #"{"architecture":"effunet-b0","lr":0.001,"validation":["a,\"b\"}"],"nested":{"x":[1,2]}}"#
        let record = Record(id: 3, settings: settings, note: "settings: {not this}")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let written = try EmbeddedJSON.inline(try encoder.encode(record), key: "settings", text: settings)
        let object = try #require(try JSONSerialization.jsonObject(with: written) as? [String: Any])
        #expect(object["settings"] is [String: Any])
        #expect(try JSONDecoder().decode(Record.self, from: try EmbeddedJSON.quote(written, key: "settings")) == record)
        // A record written before, with the settings as a string, reads the same.
        let old = try encoder.encode(record)
        #expect(try JSONDecoder().decode(Record.self, from: try EmbeddedJSON.quote(old, key: "settings")) == record)
    }
}
