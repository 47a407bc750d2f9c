import Foundation

/// The kernel build (`KernelSet.build`) is process-wide, and every test target runs in
/// one process, in parallel. A test that switches the build takes this lock exclusively;
/// a test that compares two computations bit for bit takes it shared, so the build cannot
/// change between them (the builds differ in the last bits by design).
public enum KernelBuildLock {
    nonisolated(unsafe) private static let lock: UnsafeMutablePointer<pthread_rwlock_t> = {
        let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
        pthread_rwlock_init(lock, nil)
        return lock
    }()

    /// Runs `body` while no other test can switch the kernel build.
    public static func holdingTheBuild<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    /// Runs `body`, which switches the kernel build, while no bit-comparing test runs.
    public static func switchingTheBuild<T>(_ body: () throws -> T) rethrows -> T {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}
