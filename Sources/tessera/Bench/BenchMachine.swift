import Engine
import Foundation

/// What a benchmark ran on, printed with its figures: the CPU model and the kernels that
/// computed (figures compare only within one machine and one run).
enum BenchMachine {
    static var cpuModel: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return info.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { $0.split(separator: ":", maxSplits: 1).last!.trimmingCharacters(in: .whitespaces) } ?? "unknown"
    }

    /// "CPU: …; kernels: AVX2, OpenBLAS SkylakeX; 2 cores".
    static var line: String {
        "CPU: \(cpuModel); kernels: \(KernelSet.summary); \(ProcessInfo.processInfo.activeProcessorCount) cores"
    }
}
