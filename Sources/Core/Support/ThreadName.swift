import Foundation

/// Names the calling thread for the operating system, so `top -H`, `perf` and debuggers
/// show "tile reader 1" or "stitcher" rather than the binary's name for every thread:
/// Foundation on Linux keeps `Thread.name` to itself. Linux keeps the first 15 bytes.
public enum ThreadName {
    #if os(Linux)
    // pthread_setname_np and pthread_getname_np are GNU extensions the Glibc module does
    // not export.
    private typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
    private typealias GetName = @convention(c) (pthread_t, UnsafeMutablePointer<CChar>, Int) -> Int32
    private static let setName = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pthread_setname_np").map { unsafeBitCast($0, to: SetName.self) }
    private static let getName = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pthread_getname_np").map { unsafeBitCast($0, to: GetName.self) }
    #endif

    public static func setCurrent(_ name: String) {
        #if os(Linux)
        guard let setName else { return }
        var bytes = Array(name.utf8.prefix(15))
        // A cut through a multi-byte character would leave invalid UTF-8: cut before it.
        while !bytes.isEmpty, String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
        let cString = bytes.map { CChar(bitPattern: $0) } + [0]
        _ = cString.withUnsafeBufferPointer { setName(pthread_self(), $0.baseAddress!) }
        #endif
    }

    /// The calling thread's name as the operating system has it ("" where unknown).
    public static var current: String {
        #if os(Linux)
        guard let getName else { return "" }
        var buffer = [CChar](repeating: 0, count: 16)
        guard getName(pthread_self(), &buffer, buffer.count) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #else
        return ""
        #endif
    }
}
