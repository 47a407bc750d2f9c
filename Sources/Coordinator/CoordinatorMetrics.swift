import CoreMetrics
import Foundation
import Prometheus

/// The coordinator's measurements, kept through swift-metrics and exported in Prometheus's
/// text format by swift-prometheus. Each coordinator has a registry of its own (no process-
/// wide bootstrap, so in-process drivers and tests make as many as they like). Events are
/// counted where they happen, on the socket thread; gauges of state (workers, jobs, queues)
/// are set from it by `refresh`. `text()` is safe from any thread: the HTTP server calls it.
/// What workers measure (step and all-reduce times, losses) reaches this registry in their
/// messages, so one scrape of the coordinator covers the cluster (docs/OPERATIONS.md).
final class CoordinatorMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory

    private let droppedMessages: CoreMetrics.Counter
    private let requeuedTiles: CoreMetrics.Counter
    private let ringChanges: CoreMetrics.Counter
    private let tilesDone: CoreMetrics.Counter
    private var lostWorkers: [String: CoreMetrics.Counter] = [:]
    private var tileLatency: [String: CoreMetrics.Timer] = [:]
    private let stepSeconds: CoreMetrics.Timer
    private let allReduceSeconds: CoreMetrics.Timer
    /// A gauge's series: its name and its labels.
    private struct Series: Hashable {
        let name: String
        let labels: [String: String]
    }
    private var gauges: [Series: CoreMetrics.Gauge] = [:]
    private var cpuExported: [String: Double] = [:]
    private var cpu: [String: CoreMetrics.FloatingPointCounter] = [:]
    /// When each tile in flight was sent, by request id (for the per-member latency).
    private var sent: [UInt64: Date] = [:]

    init() {
        var factory = PrometheusMetricsFactory(registry: registry)
        // Tiles take tens of milliseconds (the constant member) to tens of seconds (a large
        // CNN on a busy CPU); training steps and all-reduces from 0.1 s to minutes.
        factory.defaultDurationHistogramBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60, 120, 300].map { .milliseconds(Int64($0 * 1000)) }
        self.factory = factory
        droppedMessages = CoreMetrics.Counter(label: "tessera_dropped_messages_total", factory: factory)
        requeuedTiles = CoreMetrics.Counter(label: "tessera_tiles_requeued_total", factory: factory)
        ringChanges = CoreMetrics.Counter(label: "tessera_training_ring_changes_total", factory: factory)
        tilesDone = CoreMetrics.Counter(label: "tessera_tiles_done_total", factory: factory)
        stepSeconds = CoreMetrics.Timer(label: "tessera_training_step_seconds", factory: factory)
        allReduceSeconds = CoreMetrics.Timer(label: "tessera_training_allreduce_seconds", factory: factory)
        for reason in ["left", "registered again", "silent", "unreachable"] { lost(reason: reason, requeued: 0, counting: false) }
    }

    /// The Prometheus text of every metric.
    func text() -> String { registry.emitToString() }

    func messageDropped() { droppedMessages.increment() }

    /// A worker counted gone, with the tiles it had (given to other workers).
    func lost(reason: String, requeued: Int, counting: Bool = true) {
        let counter = lostWorkers[reason] ?? CoreMetrics.Counter(label: "tessera_workers_lost_total", dimensions: [("reason", reason)], factory: factory)
        lostWorkers[reason] = counter
        if counting { counter.increment() }
        if requeued > 0 { requeuedTiles.increment(by: requeued) }
    }

    func ringChanged() { ringChanges.increment() }

    func tileSent(_ request: UInt64, at now: Date) { sent[request] = now }

    /// A member's map of a tile came back; `tileFinished` when it was the tile's last.
    func tileReturned(_ request: UInt64, member: String, tileFinished: Bool, at now: Date) {
        if let start = sent.removeValue(forKey: request) {
            let timer = tileLatency[member] ?? CoreMetrics.Timer(label: "tessera_tile_seconds", dimensions: [("member", member)], factory: factory)
            tileLatency[member] = timer
            timer.recordSeconds(now.timeIntervalSince(start))
        }
        if tileFinished { tilesDone.increment() }
    }

    /// A tile over glass alone, done without a worker.
    func tileFinishedUnsent() { tilesDone.increment() }

    /// A step a worker applied, with how long it took it and its all-reduces.
    func trainingStep(seconds: Double, allReduceSeconds: Double?) {
        stepSeconds.recordSeconds(seconds)
        if let allReduceSeconds { self.allReduceSeconds.recordSeconds(allReduceSeconds) }
    }

    /// Sets a gauge of state; `labels` distinguish its series.
    func set(_ name: String, _ labels: [(String, String)] = [], to value: Double) {
        let series = Series(name: name, labels: Dictionary(labels) { $1 })
        let gauge = gauges[series] ?? CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
        gauges[series] = gauge
        gauge.record(value)
    }

    /// Removes the series of gauge `name` whose `label` is not one of `values` (workers gone).
    func removeSeries(of name: String, label: String, keeping values: Set<String>) {
        for (series, gauge) in gauges where series.name == name && !values.contains(series.labels[label] ?? "") {
            gauge.destroy()
            gauges[series] = nil
        }
    }

    /// CPU seconds by thread, as running totals.
    func cpu(_ totals: [String: Double]) {
        for (thread, seconds) in totals {
            let counter =
                cpu[thread] ?? CoreMetrics.FloatingPointCounter(label: "tessera_cpu_seconds_total", dimensions: [("thread", thread)], factory: factory)
            cpu[thread] = counter
            let delta = seconds - (cpuExported[thread] ?? 0)
            if delta > 0 {
                counter.increment(by: delta)
                cpuExported[thread] = seconds
            }
        }
    }

    /// Forgets send times of requests no longer in flight (their workers were lost).
    func keepSendTimes(where inFlight: (UInt64) -> Bool) { sent = sent.filter { inFlight($0.key) } }
}
