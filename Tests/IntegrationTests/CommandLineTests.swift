import Core
import Foundation
import TestSupport
import Testing

/// Each test gets its own folder, removed when the test ends.
@Suite(.serialized) final class CommandLineTests {
    let temporary: TemporaryDirectory
    var folder: String { temporary.path }

    init() throws { temporary = try TemporaryDirectory() }

    @Test func theBinaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: TesseraBinary.path), "\(TesseraBinary.path)")
    }

    /// OpenBLAS's kernels sum differently by CPU model, so every machine of a family is made
    /// to run the same one (SkylakeX with AVX-512, Haswell with AVX2 and FMA only: workers
    /// on different CPUs of a family then agree bit for bit); `TESSERA_BLAS_CORE=haswell`
    /// puts both families on Haswell; a kernel the user chose is kept.
    @Test func openBLASRunsOneKernelPerCPUFamily() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = nil
        environment["TESSERA_BLAS_CORE"] = nil
        let info = try TesseraBinary.run(["info"], environment: environment)
        #expect(info.status == 0, "\(info.stderr)")
        if info.stdout.contains("CPU has AVX2 and FMA: yes") {
            let family = info.stdout.contains("AVX-512: yes") ? "SkylakeX" : "Haswell"
            #expect(info.stdout.contains("OpenBLAS kernel: \(family)"), "\(info.stdout)")
            environment["TESSERA_BLAS_CORE"] = "haswell"
            let haswell = try TesseraBinary.run(["info"], environment: environment)
            #expect(haswell.stdout.contains("OpenBLAS kernel: Haswell"), "\(haswell.stdout)")
        }
        environment["TESSERA_BLAS_CORE"] = "haswel"  // a typo is named, not ignored
        let typo = try TesseraBinary.run(["info"], environment: environment)
        #expect(typo.status == 0 && typo.stderr.contains("TESSERA_BLAS_CORE=haswel is neither"), "\(typo.stderr)")
        environment["OPENBLAS_CORETYPE"] = "Prescott"  // SSE3: runs on any x86-64
        let chosen = try TesseraBinary.run(["info"], environment: environment)
        #expect(chosen.stdout.contains("OpenBLAS kernel: Prescott"), "\(chosen.stdout)")
    }

    /// `TESSERA_KERNELS` caps the engine kernels' build at the one it names; a value it does
    /// not know is named once on standard error, and the widest build runs.
    @Test func theEngineKernelsFollowTESSERA_KERNELS() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_CORETYPE"] = nil
        environment["TESSERA_KERNELS"] = "baseline"
        let baseline = try TesseraBinary.run(["info"], environment: environment)
        #expect(baseline.stdout.contains("engine kernels: baseline x86-64") && baseline.stderr.isEmpty, "\(baseline.stdout)\(baseline.stderr)")
        environment["TESSERA_KERNELS"] = "avx-2"
        let typo = try TesseraBinary.run(["info"], environment: environment)
        let warnings = typo.stderr.components(separatedBy: "TESSERA_KERNELS=avx-2 is none of").count - 1
        #expect(typo.status == 0 && warnings == 1, "\(typo.stderr)")
        environment["TESSERA_KERNELS"] = nil
        let widest = try TesseraBinary.run(["info"], environment: environment)
        #expect(!widest.stdout.contains("engine kernels: baseline") || !widest.stdout.contains("CPU has AVX2 and FMA: yes"), "\(widest.stdout)")
    }

    /// Bad files give a message naming the file and the reason, and a non-zero exit.
    @Test func badInputFailsCleanly() throws {
        let garbage = folder + "/garbage.tiff"
        try Data("II*\0 not really a tiff at all".utf8).write(to: URL(fileURLWithPath: garbage))
        let empty = folder + "/empty.tiff"
        FileManager.default.createFile(atPath: empty, contents: Data())
        for (arguments, reason) in [
            (["inspect", garbage], "corrupt TIFF"),
            (["inspect", empty], "empty"),
            (["inspect", folder + "/missing.tiff"], "cannot open"),
            (["infer", garbage, "--out", folder + "/m.tiff"], "corrupt TIFF"),
            (["dice", empty, garbage], "empty"),
            (["infer", empty, "--out", folder + "/m.tiff", "--model", "nope"], "unknown model architecture"),
            // Single-tile mode never resamples, and says so rather than ignoring the option.
            (["infer", empty, "--logits", folder + "/l.npy", "--weights", garbage, "--model-pixel-size", "1"], "does not resample"),
        ] {
            let result = try TesseraBinary.run(arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.stderr.contains(reason), "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: folder + "/m.tiff"))
    }

    /// `weights float16` halves a file, keeps its keys and metadata, records more, and the
    /// copy loads as the model's weights.
    @Test func aFloat16CopyLoadsAndKeepsItsMetadata() throws {
        let full = folder + "/b0.safetensors", half = folder + "/b0.f16.safetensors"
        #expect(try TesseraBinary.run(["weights", "random", "--model", "effunet-b0", "--out", full]).status == 0)
        let copy = try TesseraBinary.run(["weights", "float16", full, "--out", half, "--metadata", "pixel_size=1", "--metadata", "data_seeds=1 2"])
        #expect(copy.status == 0, "\(copy.stderr)")
        let check = try TesseraBinary.run(["weights", "check", "--model", "effunet-b0", half])
        #expect(check.status == 0 && check.stdout.hasPrefix("OK"), "\(check.stdout)\(check.stderr)")
        let sizes = try [full, half].map { try #require(FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int) }
        #expect(abs(Double(sizes[1]) / Double(sizes[0]) - 0.5) < 0.01, "\(sizes)")
        let header = try String(contentsOfFile: half, encoding: .isoLatin1)
        #expect(header.contains("\"data_seeds\":\"1 2\"") && header.contains("\"pixel_size\":\"1\"") && header.contains("\"F16\""))
        let bad = try TesseraBinary.run(["weights", "float16", full, "--out", folder + "/x.safetensors", "--metadata", "novalue"])
        #expect(bad.status != 0 && bad.stderr.contains("KEY=VALUE"), "\(bad.stderr)")
    }

    /// synth → infer → rle → dice, the README's demo in small.
    @Test func synthInferRLEAndDiceAgree() throws {
        let synth = try TesseraBinary.run(["synth", "--width", "900", "--height", "700", "--seed", "2", "--out", folder, "--quiet"])
        #expect(synth.status == 0, "\(synth.stderr)")
        let slide = folder + "/synth_2.tiff", truth = folder + "/synth_2_mask.tiff"
        let inspect = try TesseraBinary.run(["inspect", slide])
        #expect(inspect.stdout.contains("900 × 700") && inspect.stdout.contains("Deflate") && inspect.stdout.contains("0.5 µm/pixel"))
        let infer = try TesseraBinary.run([
            "infer", slide, "--out", folder + "/mask.tiff", "--tile", "256", "--margin", "32",
            "--rle", folder + "/sub.csv", "--truth", truth, "--overlay", folder + "/o.png", "--quiet",
        ])
        #expect(infer.status == 0, "\(infer.stderr)")
        #expect(infer.stdout.contains("dice: 0.") || infer.stdout.contains("dice: 1."))
        // The submission's RLE decodes back to the written mask.
        let rle = try TesseraBinary.run(["rle", "encode", folder + "/mask.tiff", "--out", folder + "/mask.rle"])
        #expect(rle.status == 0)
        let decode = try TesseraBinary.run(["rle", "decode", "--width", "900", "--height", "700", folder + "/mask.rle", folder + "/back.tiff"])
        #expect(decode.status == 0, "\(decode.stderr)")
        let dice = try TesseraBinary.run(["dice", folder + "/mask.tiff", folder + "/back.tiff"])
        #expect(dice.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1.000000")
        let submission = try String(contentsOfFile: folder + "/sub.csv", encoding: .utf8)
        let encoded = try String(contentsOfFile: folder + "/mask.rle", encoding: .utf8).trimmingCharacters(in: .newlines)
        #expect(submission == "id,rle\nsynth_2,\(encoded)\n")
        let png = try Data(contentsOf: URL(fileURLWithPath: folder + "/o.png"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
    }

    /// An Aperio slide at 0.499 µm: `inspect` reads the pixel size from its description and
    /// lists its pyramid; a model declared at 1 µm segments it from the 2× level (0.998 µm).
    @Test func anAperioSlideIsSegmentedAtTheModelsPixelSize() throws {
        let synth = try TesseraBinary.run([
            "synth", "--width", "1024", "--height", "768", "--seed", "5", "--out", folder, "--aperio", "--pixel-size", "0.499",
            "--pyramid", "2,8", "--quiet",
        ])
        #expect(synth.status == 0, "\(synth.stderr)")
        let slide = folder + "/synth_5.tiff"
        let inspect = try TesseraBinary.run(["inspect", slide])
        #expect(inspect.stdout.contains("resolution: 0.499 µm/pixel (from the Aperio MPP)"), "\(inspect.stdout)")
        #expect(
            inspect.stdout.contains(
                "pyramid levels: 1× 1024×768 (page 0, 0.499 µm/pixel), 2× 512×384 (page 1, 0.998 µm/pixel), 8× 128×96 (page 2, 3.992 µm/pixel)"),
            "\(inspect.stdout)")
        let infer = try TesseraBinary.run([
            "infer", slide, "--out", folder + "/m.tiff", "--tile", "256", "--margin", "32", "--model-pixel-size", "1.0",
            "--quiet",
        ])
        #expect(infer.status == 0 && infer.stdout.contains("tiles read from the 2× pyramid level"), "\(infer.stdout)\(infer.stderr)")
        #expect(infer.stdout.contains("stain: 128-pixel tiles read, 128-pixel model input at 1.0 µm/pixel"), "\(infer.stdout)")
        let plain = try TesseraBinary.run([
            "infer", slide, "--out", folder + "/p.tiff", "--tile", "256", "--margin", "32", "--model-pixel-size", "1.0",
            "--pyramid", "off", "--quiet",
        ])
        #expect(plain.status == 0 && !plain.stdout.contains("pyramid level"), "\(plain.stdout)\(plain.stderr)")
        let dice = try TesseraBinary.run(["dice", folder + "/m.tiff", folder + "/p.tiff"])
        #expect((Double(dice.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 0.99, "\(dice.stdout)")
        // Told a pixel size the slide lacks, or given a bad one, it says so.
        let bad = try TesseraBinary.run(["infer", slide, "--out", folder + "/x.tiff", "--pixel-size", "-1"])
        #expect(bad.status != 0 && bad.stderr.contains("--pixel-size"), "\(bad.stderr)")
    }

    @Test func helpExplainsEveryCommand() throws {
        let help = try TesseraBinary.run(["--help"])
        for command in ["infer", "synth", "inspect", "rle", "dice", "overlay", "bench"] {
            #expect(help.stdout.contains(command))
        }
    }
}
