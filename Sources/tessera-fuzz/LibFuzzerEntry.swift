import Foundation
import Fuzzing

// The libFuzzer build of Tessera's fuzz targets (`make fuzz`, docs/FUZZING.md): built with
// `-sanitize=fuzzer -D TESSERA_LIBFUZZER`, libFuzzer supplies `main` and calls these. The
// target is named by TESSERA_FUZZ_TARGET (codec, worker, coordinator, client).

#if TESSERA_LIBFUZZER
nonisolated(unsafe) private var target = FuzzTarget.codec

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(
    _ argc: UnsafeMutablePointer<Int32>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> Int32 {
    let name = ProcessInfo.processInfo.environment["TESSERA_FUZZ_TARGET"] ?? "codec"
    guard let chosen = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("TESSERA_FUZZ_TARGET=\(name) is not one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
        exit(2)
    }
    target = chosen
    do { try target.prepare() } catch {
        FileHandle.standardError.write(Data("cannot prepare \(name): \(error)\n".utf8))
        exit(2)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    target.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// libFuzzer's own driver, for an executable that keeps its `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// SwiftPM links an executable's `main` to `<module>_main`: hand it to libFuzzer's driver.
@_cdecl("tessera_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzerTestOneInput(data, size) }
}
#else
@main
struct TesseraFuzz {
    static func main() {
        FileHandle.standardError.write(
            Data("tessera-fuzz is the libFuzzer build of the fuzz targets: run `make fuzz`, or `tessera fuzz` for the seeded fuzzer\n".utf8))
        exit(2)
    }
}
#endif
