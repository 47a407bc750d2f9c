import EngineKernels
import EngineKernelsHaswell
import Foundation
import OpenBLAS
import Synchronization

/// Chooses, once per process, which build of the innermost loops runs: the AVX2 one
/// (`EngineKernelsHaswell`) on CPUs that have AVX2 and FMA, the baseline one otherwise.
/// The AVX2 build fuses multiply-adds, so the two differ in the last bits (every AVX2
/// machine gives the same ones); `TESSERA_KERNELS=baseline` forces the baseline build.
public enum KernelSet {
    /// Whether the AVX2 build runs (tests switch it to compare the two).
    public static var usesAVX2: Bool {
        get { avx2.load(ordering: .relaxed) }
        set { avx2.store(newValue, ordering: .relaxed) }
    }
    private static let avx2 = Atomic<Bool>(
        ProcessInfo.processInfo.environment["TESSERA_KERNELS"] == "baseline" ? false : cpuHasAVX2AndFMA)

    /// From /proc/cpuinfo's flags (Linux reports only what the kernel also saves and restores).
    public static let cpuHasAVX2AndFMA: Bool = cpuFlags.isSuperset(of: ["avx2", "fma"])

    /// Whether the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use (the
    /// Makefile's test target repeats this list: it picks the tests' kernel before any Swift runs).
    public static let cpuHasAVX512: Bool = cpuHasAVX2AndFMA && cpuFlags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"])

    private static let cpuFlags: Set<String> = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let flags = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        return Set(flags.split(separator: " ").map(String.init))
    }()

    /// What computes this process's maps, e.g. "AVX2, OpenBLAS Haswell": processes that
    /// agree here give bit-identical maps.
    public static var summary: String { "\(usesAVX2 ? "AVX2" : "baseline"), OpenBLAS \(BLAS.coreName)" }

    /// See `Kernels.activate`.
    @inline(__always)
    static func activate(_ values: UnsafeMutablePointer<Float>, count: Int, bias: Float, activation: Int) {
        if usesAVX2 {
            EngineKernelsHaswell.Kernels.activate(values, count: count, bias: bias, activation: activation)
        } else {
            EngineKernels.Kernels.activate(values, count: count, bias: bias, activation: activation)
        }
    }

    /// See `Kernels.activate(_:into:count:activation:)`.
    @inline(__always)
    static func activate(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int, activation: Int) {
        if usesAVX2 {
            EngineKernelsHaswell.Kernels.activate(source, into: target, count: count, activation: activation)
        } else {
            EngineKernels.Kernels.activate(source, into: target, count: count, activation: activation)
        }
    }

    /// See `Kernels.activate(_:adding:count:bias:activation:)`.
    @inline(__always)
    static func activate(
        _ values: UnsafeMutablePointer<Float>, adding residual: UnsafePointer<Float>, count: Int, bias: Float,
        activation: Int
    ) {
        if usesAVX2 {
            EngineKernelsHaswell.Kernels.activate(values, adding: residual, count: count, bias: bias, activation: activation)
        } else {
            EngineKernels.Kernels.activate(values, adding: residual, count: count, bias: bias, activation: activation)
        }
    }

    /// See `Kernels.activationBackward`.
    @inline(__always)
    static func activationBackward(
        _ gradient: UnsafePointer<Float>, input: UnsafePointer<Float>, output: UnsafePointer<Float>, count: Int,
        activation: Int, into result: UnsafeMutablePointer<Float>
    ) {
        if usesAVX2 {
            EngineKernelsHaswell.Kernels.activationBackward(gradient, input: input, output: output, count: count, activation: activation, into: result)
        } else {
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
        if usesAVX2 {
            EngineKernelsHaswell.Kernels.accumulate(
                padded, taps: taps, offsets: offsets, count: count, blocks: blocks, rows: rows,
                rowStep: rowStep, width: width, into: result)
        } else {
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
        if usesAVX2 {
            EngineKernelsHaswell.WinogradTile(rawValue: tile.rawValue)!.transformInputBand(
                padded, phaseLength: phaseLength, rows: rows, blocks: blocks, channel: channel, channels: channels, tiles: tiles,
                into: v, scratch: scratch)
        } else {
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
        if usesAVX2 {
            EngineKernelsHaswell.WinogradTile(rawValue: tile.rawValue)!.transformOutputBand(
                products, channel: channel, channels: channels, tiles: tiles, rows: rows, blocks: blocks, firstTileRow: firstTileRow,
                into: plane, height: height, width: width, bias: bias, activation: activation, scratch: scratch)
        } else {
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
        if usesAVX2 {
            EngineKernelsHaswell.Kernels.pad(
                channel, height: height, width: width, top: top, left: left, stride: stride,
                phaseLength: phaseLength, rows: rows, into: padded)
        } else {
            EngineKernels.Kernels.pad(
                channel, height: height, width: width, top: top, left: left, stride: stride,
                phaseLength: phaseLength, rows: rows, into: padded)
        }
    }

    /// See `Kernels.copyEveryOther`.
    @inline(__always)
    static func copyEveryOther(_ source: UnsafePointer<Float>, count: Int, into target: UnsafeMutablePointer<Float>) {
        if usesAVX2 {
            EngineKernelsHaswell.Kernels.copyEveryOther(source, count: count, into: target)
        } else {
            EngineKernels.Kernels.copyEveryOther(source, count: count, into: target)
        }
    }
}
