import Foundation
import Testing

/// The walls of docs/ARCHITECTURE.md, checked on the sources: which module may import
/// which. The engine knows no network or role; the coordinator never sees the engine;
/// coordinator and worker never see each other; only a wrapper touches its C library.
@Suite struct ArchitectureTests {
    /// Tessera's modules and the Tessera modules each may import (system modules aside).
    static let allowed: [String: Set<String>] = [
        "Core": [],
        "Tiling": ["Core"],
        "Segmentation": ["Core", "Tiling", "TIFF", "Zlib", "OpenSlide"],
        "Shared": ["Core", "Tiling", "ZeroMQ"],
        "EngineKernels": [],
        "EngineKernelsHaswell": [],
        "EngineKernelsSkylakeX": [],
        "Engine": ["Core", "OpenBLAS", "EngineKernels", "EngineKernelsHaswell", "EngineKernelsSkylakeX"],
        "Training": ["Core", "Segmentation", "Tiling", "Engine"],
        "Members": ["Core", "Segmentation", "Shared", "Engine"],
        "Worker": ["Core", "Tiling", "Shared", "Engine", "Members", "Training", "ZeroMQ"],
        "Coordinator": ["Core", "Segmentation", "Tiling", "Shared", "ZeroMQ"],
        "Client": ["Core", "Shared", "ZeroMQ"],
        "Fuzzing": ["Core", "Segmentation", "Shared", "Client", "Worker", "Coordinator", "ZeroMQ"],
        "tessera-fuzz": ["Fuzzing"],
        "Simulation": ["Core", "Tiling", "Shared", "Coordinator", "Worker"],
        "tessera": [
            "Core", "Segmentation", "Tiling", "Shared", "Engine", "Members", "Training", "Worker", "Coordinator", "Client", "ZeroMQ", "Fuzzing", "Simulation",
            "OpenBLAS",
            "TIFF",
            "HTTPStatus",
        ],
        "HTTPStatus": ["Core"],
        "ZeroMQ": ["CZeroMQ"],
        "TIFF": ["CTIFF"],
        "OpenBLAS": ["COpenBLAS"],
        "Zlib": ["CZlib"],
        "OpenSlide": [],
        "CZeroMQ": [], "CTIFF": [], "COpenBLAS": [], "CZlib": [],
    ]

    /// Source files stay short enough to read at a sitting.
    static let longestFile = 400

    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources").path

    /// Every `.swift` file of a module (following the symlinked kernel folder), with its text.
    static func files(of module: String) -> [(path: String, text: String)] {
        let folder = sources + "/" + module
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return [] }
        return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }.sorted().compactMap { relative in
            (try? String(contentsOfFile: folder + "/" + relative, encoding: .utf8)).map { (module + "/" + relative, $0) }
        }
    }

    /// The modules a source file imports: `import X`, `@testable import X`, `import struct X.Y`.
    static func imports(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line -> String? in
            var words = line.split(separator: " ").map(String.init)
            while let first = words.first, first.hasPrefix("@") { words.removeFirst() }
            guard words.first == "import", words.count >= 2 else { return nil }
            let kinds: Set<String> = ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"]
            let name = kinds.contains(words[1]) && words.count >= 3 ? words[2] : words[1]
            return String(name.split(separator: ".")[0])
        }
    }

    @Test func everyModuleIsKnown() throws {
        let modules = try FileManager.default.contentsOfDirectory(atPath: Self.sources).filter { !$0.hasPrefix(".") }
        #expect(Set(modules) == Set(Self.allowed.keys), "a module without a rule, or a rule without a module")
    }

    @Test(arguments: allowed.keys.sorted())
    func importsStayInsideTheirWalls(module: String) {
        let tessera = Set(Self.allowed.keys)
        for (path, text) in Self.files(of: module) {
            for imported in Self.imports(text) where tessera.contains(imported) && imported != module {
                #expect(Self.allowed[module]!.contains(imported), "\(path) imports \(imported)")
            }
        }
    }

    /// The Tessera modules each target declares in Package.swift, read from its text: a
    /// target runs from its `.target(name:` (or executable, system library, test target) to
    /// the next one, and declares the quoted module names in between.
    static func declaredDependencies() throws -> [String: Set<String>] {
        let text = try String(contentsOfFile: sources + "/../Package.swift", encoding: .utf8)
        let modules = Set(allowed.keys)
        let pattern = try NSRegularExpression(pattern: #"\.(target|executableTarget|systemLibrary|testTarget)\(\s*name:\s*"([^"]+)""#)
        let whole = NSRange(text.startIndex..., in: text)
        let matches = pattern.matches(in: text, range: whole)
        var declared: [String: Set<String>] = [:]
        for (index, match) in matches.enumerated() {
            let kind = String(text[Range(match.range(at: 1), in: text)!]), name = String(text[Range(match.range(at: 2), in: text)!])
            guard kind != "testTarget" else { continue }
            let end = index + 1 < matches.count ? matches[index + 1].range.location : whole.length
            let body = text[Range(NSRange(location: match.range.upperBound, length: end - match.range.upperBound), in: text)!]
            let quoted = body.split(separator: "\"", omittingEmptySubsequences: false).enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            declared[name] = Set(quoted.filter { modules.contains($0) && $0 != name })
        }
        return declared
    }

    /// A module imports only what Package.swift declares for it (a module that builds on
    /// another's transitive dependency breaks when that one's dependencies change).
    @Test(arguments: allowed.keys.sorted())
    func importsAreDeclaredInThePackage(module: String) throws {
        let declared = try #require(try Self.declaredDependencies()[module], "\(module) is not a target of Package.swift")
        let tessera = Set(Self.allowed.keys)
        for (path, text) in Self.files(of: module) {
            for imported in Self.imports(text) where tessera.contains(imported) && imported != module {
                #expect(declared.contains(imported), "\(path) imports \(imported), which Package.swift does not declare for \(module)")
            }
        }
    }

    @Test(arguments: allowed.keys.sorted())
    func filesStayShort(module: String) {
        for (path, text) in Self.files(of: module) {
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).count
            #expect(lines <= Self.longestFile, "\(path) has \(lines) lines")
        }
    }

    /// The modules each reaches through a graph's arrows (`from --> to`).
    static func reach(_ arrows: [String: Set<String>]) -> [String: Set<String>] {
        var reached: [String: Set<String>] = [:]
        for start in arrows.keys {
            var seen: Set<String> = [], stack = Array(arrows[start] ?? [])
            while let next = stack.popLast() {
                guard seen.insert(next).inserted else { continue }
                stack += arrows[next] ?? []
            }
            reached[start] = seen
        }
        return reached
    }

    /// docs/ARCHITECTURE.md's diagram is the package: its arrows reach, from each module,
    /// exactly the modules Package.swift's declarations reach.
    @Test func theDiagramIsThePackage() throws {
        let text = try String(contentsOfFile: Self.sources + "/../docs/ARCHITECTURE.md", encoding: .utf8)
        let block = try #require(text.components(separatedBy: "```mermaid").dropFirst().first?.components(separatedBy: "```").first)
        var drawn: [String: Set<String>] = [:]
        for line in block.split(separator: "\n") {
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 3, parts[1] == "-->" else { continue }
            drawn[parts[0], default: []].insert(parts[2])
        }
        #expect(!drawn.isEmpty, "no arrows in the diagram")
        let declared = try Self.declaredDependencies().filter { !$0.value.isEmpty }
        let (drawnReach, declaredReach) = (Self.reach(drawn), Self.reach(declared))
        for module in Set(drawnReach.keys).union(declaredReach.keys).sorted() {
            #expect(drawnReach[module, default: []] == declaredReach[module, default: []], "\(module): the diagram and Package.swift differ")
        }
    }

    /// The check itself: it reads imports as Swift writes them.
    @Test func importsAreRead() {
        #expect(
            Self.imports("import Foundation\n@testable import Shared\nimport struct Core.PixelImage\n// import Engine\nlet x = 1")
                == ["Foundation", "Shared", "Core"])
    }
}
