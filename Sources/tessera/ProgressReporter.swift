import Foundation

/// Reports the progress of long work on standard error: a line redrawn in place on a
/// terminal, or a line every few seconds when stderr is a file or pipe.
final class ProgressReporter {
    private let label: String
    private let start = Date()
    private var lastReport = Date.distantPast
    private let interactive = isatty(STDERR_FILENO) != 0
    private let quiet: Bool

    init(_ label: String, quiet: Bool = false) {
        self.label = label
        self.quiet = quiet
    }

    /// Reports `done` of `total` units (`unit` names them), with the time left estimated.
    func update(_ done: Int, of total: Int, unit: String = "") {
        guard !quiet else { return }
        let now = Date()
        let finished = done >= total
        guard finished || now.timeIntervalSince(lastReport) >= (interactive ? 0.2 : 5) else { return }
        lastReport = now
        let elapsed = now.timeIntervalSince(start)
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        var line = String(format: "%@ %3.0f%% (%d/%d%@)", label, fraction * 100, done, total, unit.isEmpty ? "" : " " + unit)
        if finished {
            line += String(format: " in %.1f s", elapsed)
        } else if fraction > 0 {
            line += String(format: ", about %.0f s left", elapsed / fraction - elapsed)
        }
        FileHandle.standardError.write(((interactive ? "\r\u{1B}[K" : "") + line + (finished || !interactive ? "\n" : "")).data(using: .utf8)!)
    }

    /// Prints a plain line on standard error.
    static func note(_ text: String) {
        FileHandle.standardError.write((text + "\n").data(using: .utf8)!)
    }
}
