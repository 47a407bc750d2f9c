import Engine
import Foundation

/// Makes every Tessera process on a CPU with AVX2 and FMA run OpenBLAS's Haswell kernels.
///
/// OpenBLAS picks its sgemm kernel by CPU model when it loads (Zen, Haswell, SkylakeX,
/// Sandybridge …), and the kernels block and sum differently: an AVX-only kernel changed
/// half of a tile's logits in the last bits. Workers on different CPUs would then disagree
/// and a cluster's mask would depend on which worker took which tile. With one kernel
/// everywhere it does not. OpenBLAS reads `OPENBLAS_CORETYPE` before `main` runs, so the
/// process sets it and executes itself again (same PID, arguments and environment).
///
/// A core type set by the user is respected; `TESSERA_BLAS_CORE=native` keeps OpenBLAS's
/// own choice (it may be faster on AVX-512 CPUs, at the price of bit-identity across CPU
/// models). CPUs without AVX2 and FMA cannot run the Haswell kernels and keep theirs.
enum BLASCorePinning {
    static let core = "Haswell"

    /// Called first in `main`; returns only when no re-execution is needed (or it failed).
    static func apply() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil, environment["TESSERA_BLAS_CORE"] != "native",
            KernelSet.cpuHasAVX2AndFMA
        else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Could not execute: carry on with the kernel OpenBLAS chose.
        unsetenv("OPENBLAS_CORETYPE")
    }
}
