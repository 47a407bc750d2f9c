import Core
import Foundation
import Logging
import Testing

/// Log lines in both formats: text for people, JSON for collectors, metadata in each.
@Suite struct LogTests {
    static let time = Date(timeIntervalSince1970: 1_800_000_000.25)

    @Test func textLinesEndWithTheMetadataSorted() {
        let line = TesseraLogHandler.line(
            time: Self.time, level: .warning, label: "coordinator", message: "job 3 failed: no worker",
            metadata: ["job": "3", "member": "b0 1um"], format: .text)
        #expect(line == "2027-01-15T08:00:00.250Z warning coordinator: job 3 failed: no worker job=3 member=\"b0 1um\"\n")
    }

    @Test func jsonLinesAreOneObjectEach() throws {
        let line = TesseraLogHandler.line(
            time: Self.time, level: .info, label: "worker b0@n1:7", message: "say \"hi\"\nthen go",
            metadata: ["run": "2", "step": "40", "message": "not the message"], format: .json)
        #expect(line.hasSuffix("\n") && line.dropLast().split(separator: "\n").count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(
            object == [
                "time": "2027-01-15T08:00:00.250Z", "level": "info", "component": "worker b0@n1:7", "message": "say \"hi\"\nthen go",
                "run": "2", "step": "40",
            ])
    }
}
