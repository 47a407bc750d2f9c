import EngineKernels
import EngineKernelsHaswell
import EngineKernelsSkylakeX
import Foundation
import OpenBLAS
import Synchronization

/// Chooses, once per process, which build of the innermost loops runs: the AVX-512 one
/// (`EngineKernelsSkylakeX`) on CPUs with AVX-512, the AVX2 one (`EngineKernelsHaswell`)
/// on other CPUs with AVX2 and FMA, the baseline one otherwise. The AVX2 build fuses
/// multiply-adds, so it differs from the baseline one in the last bits (every AVX2 machine
/// gives the same ones). The AVX-512 build runs the AVX2 build's operations on each lane,
/// sixteen lanes to a register, and so gives its bits exactly. `TESSERA_KERNELS=baseline`
/// or `avx2` caps the choice.
public enum KernelSet {
    /// A build of `EngineKernels`.
    public enum Build: Int, Sendable, Comparable, CustomStringConvertible {
        case baseline, avx2, avx512

        public static func < (a: Build, b: Build) -> Bool { a.rawValue < b.rawValue }

        public var description: String { ["baseline x86-64", "AVX2", "AVX-512"][rawValue] }
    }

    /// The build that runs (tests switch it to compare builds).
    public static var build: Build {
        get { Build(rawValue: current.load(ordering: .relaxed))! }
        set { current.store(newValue.rawValue, ordering: .relaxed) }
    }
    private static let current = Atomic<Int>(defaultBuild.rawValue)

    /// The widest build this CPU runs, capped by `TESSERA_KERNELS`.
    private static let defaultBuild = build(requested: ProcessInfo.processInfo.environment["TESSERA_KERNELS"], widest: widestBuild)

    /// The widest build this CPU runs.
    private static let widestBuild: Build = cpuHasAVX512 ? .avx512 : cpuHasAVX2AndFMA ? .avx2 : .baseline

    /// `TESSERA_KERNELS`'s values (lowercased): the widest build each allows.
    static let requests: [String: Build] = ["baseline": .baseline, "avx2": .avx2, "avx512": .avx512]

    /// The build for a `TESSERA_KERNELS` value on a CPU whose widest build is `widest`: the
    /// narrower of the two; `widest` when the value is unset or not one of `requests`.
    static func build(requested: String?, widest: Build) -> Build {
        guard let cap = requested.flatMap({ requests[$0.lowercased()] }) else { return widest }
        return min(widest, cap)
    }

    /// What is wrong with `TESSERA_KERNELS`, for the command line to say; nil when it is
    /// unset, empty or valid.
    public static func problem(requested: String? = ProcessInfo.processInfo.environment["TESSERA_KERNELS"]) -> String? {
        guard let requested, !requested.isEmpty, requests[requested.lowercased()] == nil else { return nil }
        return "TESSERA_KERNELS=\(requested) is none of baseline, avx2, avx512; running the widest engine kernels this CPU runs (\(widestBuild))"
    }

    /// From /proc/cpuinfo's flags (Linux reports only what the kernel also saves and restores).
    public static let cpuHasAVX2AndFMA: Bool = cpuFlags.isSuperset(of: ["avx2", "fma"])

    /// Whether the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels and the AVX-512
    /// build use (the Makefile's test target repeats this list: it picks the tests' kernel
    /// before any Swift runs).
    public static let cpuHasAVX512: Bool = cpuHasAVX2AndFMA && cpuFlags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"])

    private static let cpuFlags: Set<String> = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(flags.split(separator: " ").map(String.init))
    }()

    /// What computes this process's maps, e.g. "AVX2, OpenBLAS Haswell": processes that
    /// agree here give bit-identical maps (the AVX-512 build counts as AVX2: same bits).
    public static var summary: String { "\(build >= .avx2 ? "AVX2" : "baseline"), OpenBLAS \(BLAS.coreName)" }

    /// See `Kernels.activate`.
    @inline(__always)
    static func activate(_ values: UnsafeMutablePointer<Float>, count: Int, bias: Float, activation: Int) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.Kernels.activate(values, count: count, bias: bias, activation: activation)
        case .avx2:
            EngineKernelsHaswell.Kernels.activate(values, count: count, bias: bias, activation: activation)
        case .baseline:
            EngineKernels.Kernels.activate(values, count: count, bias: bias, activation: activation)
        }
    }

    /// See `Kernels.activate(_:into:count:activation:)`.
    @inline(__always)
    static func activate(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int, activation: Int) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.Kernels.activate(source, into: target, count: count, activation: activation)
        case .avx2:
            EngineKernelsHaswell.Kernels.activate(source, into: target, count: count, activation: activation)
        case .baseline:
            EngineKernels.Kernels.activate(source, into: target, count: count, activation: activation)
        }
    }

    /// See `Kernels.activate(_:adding:count:bias:activation:)`.
    @inline(__always)
    static func activate(
        _ values: UnsafeMutablePointer<Float>, adding residual: UnsafePointer<Float>, count: Int, bias: Float,
        activation: Int
    ) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.Kernels.activate(values, adding: residual, count: count, bias: bias, activation: activation)
        case .avx2:
            EngineKernelsHaswell.Kernels.activate(values, adding: residual, count: count, bias: bias, activation: activation)
        case .baseline:
            EngineKernels.Kernels.activate(values, adding: residual, count: count, bias: bias, activation: activation)
        }
    }

    /// See `Kernels.activationBackward`.
    @inline(__always)
    static func activationBackward(
        _ gradient: UnsafePointer<Float>, input: UnsafePointer<Float>, output: UnsafePointer<Float>, count: Int,
        activation: Int, into result: UnsafeMutablePointer<Float>
    ) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.Kernels.activationBackward(gradient, input: input, output: output, count: count, activation: activation, into: result)
        case .avx2:
            EngineKernelsHaswell.Kernels.activationBackward(gradient, input: input, output: output, count: count, activation: activation, into: result)
        case .baseline:
            EngineKernels.Kernels.activationBackward(gradient, input: input, output: output, count: count, activation: activation, into: result)
        }
    }

    /// See `Kernels.accumulate`.
    @inline(__always)
    static func accumulate(
        _ padded: UnsafeMutablePointer<Float>, taps: UnsafeMutablePointer<SIMD8<Float>>,
        offsets: UnsafeMutablePointer<Int>, count: Int, blocks: Int, rows: Int, rowStep: Int,
        width: Int, into result: UnsafeMutablePointer<Float>
    ) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.Kernels.accumulate(
                padded, taps: taps, offsets: offsets, count: count, blocks: blocks, rows: rows,
                rowStep: rowStep, width: width, into: result)
        case .avx2:
            EngineKernelsHaswell.Kernels.accumulate(
                padded, taps: taps, offsets: offsets, count: count, blocks: blocks, rows: rows,
                rowStep: rowStep, width: width, into: result)
        case .baseline:
            EngineKernels.Kernels.accumulate(
                padded, taps: taps, offsets: offsets, count: count, blocks: blocks, rows: rows,
                rowStep: rowStep, width: width, into: result)
        }
    }

    /// See `WinogradTile.transformInputBand`.
    @inline(__always)
    static func winogradInput(
        _ tile: EngineKernels.WinogradTile, _ padded: UnsafeMutablePointer<Float>, phaseLength: Int, rows: Int,
        blocks: Int, channel: Int, channels: Int, tiles: Int, into v: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.WinogradTile(rawValue: tile.rawValue)!.transformInputBand(
                padded, phaseLength: phaseLength, rows: rows, blocks: blocks, channel: channel, channels: channels, tiles: tiles,
                into: v, scratch: scratch)
        case .avx2:
            EngineKernelsHaswell.WinogradTile(rawValue: tile.rawValue)!.transformInputBand(
                padded, phaseLength: phaseLength, rows: rows, blocks: blocks, channel: channel, channels: channels, tiles: tiles,
                into: v, scratch: scratch)
        case .baseline:
            tile.transformInputBand(
                padded, phaseLength: phaseLength, rows: rows, blocks: blocks, channel: channel, channels: channels,
                tiles: tiles, into: v, scratch: scratch)
        }
    }

    /// See `WinogradTile.transformOutputBand`.
    @inline(__always)
    static func winogradOutput(
        _ tile: EngineKernels.WinogradTile, _ products: UnsafeMutablePointer<Float>, channel: Int, channels: Int, tiles: Int,
        rows: Int, blocks: Int, firstTileRow: Int, into plane: UnsafeMutablePointer<Float>, height: Int, width: Int,
        bias: Float, activation: Int, scratch: UnsafeMutablePointer<SIMD8<Float>>
    ) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.WinogradTile(rawValue: tile.rawValue)!.transformOutputBand(
                products, channel: channel, channels: channels, tiles: tiles, rows: rows, blocks: blocks, firstTileRow: firstTileRow,
                into: plane, height: height, width: width, bias: bias, activation: activation, scratch: scratch)
        case .avx2:
            EngineKernelsHaswell.WinogradTile(rawValue: tile.rawValue)!.transformOutputBand(
                products, channel: channel, channels: channels, tiles: tiles, rows: rows, blocks: blocks, firstTileRow: firstTileRow,
                into: plane, height: height, width: width, bias: bias, activation: activation, scratch: scratch)
        case .baseline:
            tile.transformOutputBand(
                products, channel: channel, channels: channels, tiles: tiles, rows: rows, blocks: blocks,
                firstTileRow: firstTileRow, into: plane, height: height, width: width, bias: bias,
                activation: activation, scratch: scratch)
        }
    }

    /// See `Kernels.pad`.
    @inline(__always)
    static func pad(
        _ channel: UnsafePointer<Float>, height: Int, width: Int, top: Int, left: Int, stride: Int,
        phaseLength: Int, rows: Int, into padded: UnsafeMutablePointer<Float>
    ) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.Kernels.pad(
                channel, height: height, width: width, top: top, left: left, stride: stride,
                phaseLength: phaseLength, rows: rows, into: padded)
        case .avx2:
            EngineKernelsHaswell.Kernels.pad(
                channel, height: height, width: width, top: top, left: left, stride: stride,
                phaseLength: phaseLength, rows: rows, into: padded)
        case .baseline:
            EngineKernels.Kernels.pad(
                channel, height: height, width: width, top: top, left: left, stride: stride,
                phaseLength: phaseLength, rows: rows, into: padded)
        }
    }

    /// Whether ungrouped layers multiply by `PointwiseGEMM` (every build but the baseline
    /// one, which has no fused multiply-add and runs OpenBLAS).
    static var hasPointwiseGEMM: Bool { build >= .avx2 }

    /// See `PointwiseGEMM.scratchCount`.
    static func pointwiseScratchCount(depth k: Int) -> Int {
        build == .avx512 ? EngineKernelsSkylakeX.PointwiseGEMM.scratchCount(depth: k) : EngineKernelsHaswell.PointwiseGEMM.scratchCount(depth: k)
    }

    /// See `PointwiseGEMM.multiply` (not for the baseline build: see `hasPointwiseGEMM`).
    @inline(__always)
    static func multiplyPointwise(
        packed: UnsafePointer<Float>, depth k: Int, rows: Range<Int>, x: UnsafePointer<Float>, ldx: Int,
        columns: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, scratch: UnsafeMutablePointer<Float>,
        finished: (Range<Int>, Range<Int>) -> Void
    ) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.PointwiseGEMM.multiply(
                packed: packed, depth: k, rows: rows, x: x, ldx: ldx, columns: columns, into: c, ldc: ldc, scratch: scratch,
                finished: finished)
        case .avx2:
            EngineKernelsHaswell.PointwiseGEMM.multiply(
                packed: packed, depth: k, rows: rows, x: x, ldx: ldx, columns: columns, into: c, ldc: ldc, scratch: scratch,
                finished: finished)
        case .baseline:
            preconditionFailure("the baseline build multiplies through OpenBLAS")
        }
    }

    /// See `Kernels.copyEveryOther`.
    @inline(__always)
    static func copyEveryOther(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
        switch build {
        case .avx512:
            EngineKernelsSkylakeX.Kernels.copyEveryOther(source, count: count, into: target)
        case .avx2:
            EngineKernelsHaswell.Kernels.copyEveryOther(source, count: count, into: target)
        case .baseline:
            EngineKernels.Kernels.copyEveryOther(source, count: count, into: target)
        }
    }
}
