#if canImport(Glibc)
import Glibc
#endif

/// Keeps freed feature maps in the process heap for the next layer and the next tile.
///
/// A tile allocates and frees the same sequence of large maps every time. By default glibc
/// hands each one back to the kernel (mmap above 32 MB, trimming below), so every tile paid
/// for the same pages again in page faults and zeroing. With this on, the heap grows to the
/// model's working set once and is reused; peak RSS is that working set. The long-lived
/// cluster processes turn it on too: they allocate and free the same tile-sized buffers
/// hundreds of times a second, and training does for every step (`ModelTrainer`).
///
/// Every thread shares the main heap (one arena): a thread's own arena lives in 64 MB
/// heaps, so glibc maps any larger block a worker thread asks for (a training batch's
/// im2col matrix, a decoder map) straight from the kernel, whatever the settings above,
/// and unmaps it when freed — page faults and zeroing again every step. Small blocks
/// up to about 1 KB mostly come from each thread's own cache (tcache), without the arena's lock.
public enum HeapRetention {
    private static let enable: Void = {
        #if canImport(Glibc)
        // mallopt lives in <malloc.h>, which the Glibc module does not export.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapMax: Int32 = -4, arenaMax: Int32 = -8  // M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX
        _ = mallopt(arenaMax, 1)
        _ = mallopt(mmapMax, 0)
        _ = mallopt(trimThreshold, Int32.max)
        #endif
    }()

    /// Turns retention on (once per process; later calls do nothing).
    public static func enableOnce() { _ = enable }
}
