import Engine
import Foundation

/// Makes every Tessera process run the OpenBLAS kernel of its CPU's family: `SkylakeX` on
/// CPUs with AVX-512, `Haswell` on those with AVX2 and FMA only.
///
/// OpenBLAS picks its sgemm kernel by CPU model when it loads (Zen, Haswell, SkylakeX,
/// Sandybridge, or Prescott for a model it does not know), and the kernels block and sum
/// differently: an AVX-only kernel changed half of a tile's logits in the last bits. With
/// one kernel per family, every CPU of a family gives the same bits, whatever its model.
/// OpenBLAS reads `OPENBLAS_CORETYPE` before `main` runs, so the process sets it and
/// executes itself again (same PID, arguments and environment).
///
/// `TESSERA_BLAS_CORE=haswell` runs the AVX2 family's kernel on AVX-512 CPUs too, so that
/// a cluster mixing the two families agrees bit for bit (SkylakeX is about 1.3× faster
/// on AVX-512 CPUs); `native` keeps OpenBLAS's own choice; a `OPENBLAS_CORETYPE` set by the
/// user is respected. CPUs without AVX2 and FMA keep OpenBLAS's choice.
enum BLASCorePinning {
    /// `TESSERA_BLAS_CORE`'s values (lowercased) besides the default, the CPU family's
    /// kernel: the kernel each asks for, nil for OpenBLAS's own choice.
    static let choices: [String: String?] = ["haswell": "Haswell", "native": nil]

    /// The kernel this process should run, nil to leave OpenBLAS's choice.
    static func core(environment: [String: String]) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil, KernelSet.cpuHasAVX2AndFMA else { return nil }
        if let value = environment["TESSERA_BLAS_CORE"]?.lowercased(), let choice = choices[value] { return choice }
        return KernelSet.cpuHasAVX512 ? "SkylakeX" : "Haswell"
    }

    /// Called first in `main`; returns only when no re-execution is needed (or it failed).
    static func apply() {
        let environment = ProcessInfo.processInfo.environment
        if let choice = environment["TESSERA_BLAS_CORE"], !choice.isEmpty, !choices.keys.contains(choice.lowercased()),
            environment["OPENBLAS_CORETYPE"] == nil
        {
            // Said once, before the re-execution (which then finds OPENBLAS_CORETYPE set).
            FileHandle.standardError.write(
                Data("tessera: TESSERA_BLAS_CORE=\(choice) is neither haswell nor native; running the CPU family's kernel\n".utf8))
        }
        // Said by the process that goes on (after any re-execution).
        defer { if let problem = KernelSet.problem() { FileHandle.standardError.write(Data("tessera: \(problem)\n".utf8)) } }
        guard let core = core(environment: environment) else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Could not execute: carry on with the kernel OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
