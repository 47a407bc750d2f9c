import Foundation
import TestSupport
import Testing

@testable import Coordinator

/// The coordinator's metrics in Prometheus's text format, checked by a parser written from
/// the format's specification (which is itself checked on the specification's example and
/// on texts Prometheus would refuse).
@Suite struct CoordinatorMetricsTests {
    static let specificationExample = #"""
        # HELP http_requests_total The total number of HTTP requests.
        # TYPE http_requests_total counter
        http_requests_total{method="post",code="200"} 1027 1395066363000
        http_requests_total{method="post",code="400"}    3 1395066363000

        # Escaping in label values:
        msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9

        # Minimalistic line:
        metric_without_timestamp_and_labels 12.47

        # A weird metric from before the epoch:
        something_weird{problem="division by zero"} +Inf -3982045

        # A histogram, which has a pretty complex representation in the text format:
        # HELP http_request_duration_seconds A histogram of the request duration.
        # TYPE http_request_duration_seconds histogram
        http_request_duration_seconds_bucket{le="0.05"} 24054
        http_request_duration_seconds_bucket{le="0.1"} 33444
        http_request_duration_seconds_bucket{le="0.2"} 100392
        http_request_duration_seconds_bucket{le="0.5"} 129389
        http_request_duration_seconds_bucket{le="1"} 133988
        http_request_duration_seconds_bucket{le="+Inf"} 144320
        http_request_duration_seconds_sum 53423
        http_request_duration_seconds_count 144320

        """#

    @Test func theParserTakesTheSpecificationsExample() throws {
        let text = try PrometheusText(Self.specificationExample)
        #expect(text.value("http_requests_total", ["method": "post", "code": "400"]) == 3)
        #expect(text.value("msdos_file_access_time_seconds", ["path": #"C:\DIR\FILE.TXT"#, "error": "Cannot find file:\n\"FILE.TXT\""]) == 1.458255915e9)
        #expect(text.value("something_weird", ["problem": "division by zero"]) == .infinity)
        #expect(text.types["http_request_duration_seconds"] == "histogram" && text.samples.count == 13)
    }

    @Test(arguments: [
        "no_newline 1",
        "bad-name 1\n",
        "x{1a=\"v\"} 1\n",
        "x{a=v} 1\n",
        "x{a=\"v\" 1\n",
        "x{a=\"v\\q\"} 1\n",
        "x one\n",
        "x 1 1.5\n",
        "# TYPE x counter\nx -1\n",
        "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
        "x 1\n# TYPE x gauge\n",
        "x 1\ny 1\nx{a=\"b\"} 2\n",
        "x 1\nx 2\n",
        "# TYPE x histogram\nx_bucket{le=\"1\"} 2\nx_bucket{le=\"+Inf\"} 1\nx_sum 1\nx_count 1\n",
        "# TYPE x histogram\nx_bucket{le=\"1\"} 1\nx_sum 1\nx_count 1\n",
        "# TYPE x histogram\nx_bucket{le=\"+Inf\"} 2\nx_sum 1\nx_count 1\n",
        "# TYPE x wobbly\nx 1\n",
    ])
    func theParserRefusesWhatPrometheusWould(text: String) {
        #expect(throws: PrometheusText.Malformed.self) { try PrometheusText(text) }
    }

    @Test func eventsAndStateReadBackFromTheText() throws {
        let meter = CoordinatorMetrics()
        let start = Date()
        meter.tileSent(1, at: start)
        meter.tileSent(2, at: start)
        meter.tileReturned(1, member: "b0 \"fast\"", tileFinished: true, at: start.addingTimeInterval(0.3))
        meter.tileReturned(2, member: "b0 \"fast\"", tileFinished: false, at: start.addingTimeInterval(4))
        meter.tileFinishedUnsent()
        meter.lost(reason: "silent", requeued: 3)
        meter.messageDropped()
        meter.trainingStep(seconds: 2, allReduceSeconds: 0.5)
        meter.set("tessera_workers", [("member", "b0")], to: 2)
        meter.set("tessera_worker_longest_silence_seconds", [("worker", "a")], to: 1.5)
        meter.set("tessera_worker_longest_silence_seconds", [("worker", "b")], to: 0.5)
        meter.removeSeries(of: "tessera_worker_longest_silence_seconds", label: "worker", keeping: ["a"])
        meter.cpu(["sockets": 1.25])
        meter.cpu(["sockets": 2.5])

        let text = try PrometheusText(meter.text())
        #expect(text.value("tessera_tiles_done_total") == 2)
        #expect(text.value("tessera_workers_lost_total", ["reason": "silent"]) == 1)
        #expect(text.value("tessera_workers_lost_total", ["reason": "left"]) == 0)
        #expect(text.value("tessera_tiles_requeued_total") == 3 && text.value("tessera_dropped_messages_total") == 1)
        let member = ["member": "b0 \"fast\""]
        #expect(text.value("tessera_tile_seconds_count", member) == 2)
        #expect(text.value("tessera_tile_seconds_bucket", member.merging(["le": "0.5"]) { $1 }) == 1)
        #expect(abs((text.value("tessera_tile_seconds_sum", member) ?? 0) - 4.3) < 1e-6)
        #expect(text.value("tessera_training_step_seconds_count") == 1 && text.value("tessera_training_allreduce_seconds_sum") == 0.5)
        #expect(text.value("tessera_workers", ["member": "b0"]) == 2)
        #expect(text.value("tessera_worker_longest_silence_seconds", ["worker": "a"]) == 1.5)
        #expect(text.value("tessera_worker_longest_silence_seconds", ["worker": "b"]) == nil, "a departed worker's series is removed")
        #expect(text.value("tessera_cpu_seconds_total", ["thread": "sockets"]) == 2.5)
        #expect(text.types["tessera_tile_seconds"] == "histogram" && text.types["tessera_tiles_done_total"] == "counter")
    }
}
