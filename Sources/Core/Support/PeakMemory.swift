import Foundation

/// Peak resident set size (VmHWM) of a process, in MB, as benchmarks report it.
public enum PeakMemory {
    /// This process's, or that of `pid`; 0 when /proc cannot tell.
    public static func megabytes(pid: Int32? = nil) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}
