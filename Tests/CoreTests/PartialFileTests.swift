import Core
import Foundation
import Testing

/// Files appear whole or not at all.
@Suite struct PartialFileTests {
    static func folder() throws -> String {
        let path = NSTemporaryDirectory() + "partial-file-tests-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func aCommittedFileReplacesTheOldAndADroppedOneLeavesIt() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let destination = folder + "/mask.tiff"
        try Data("old".utf8).write(to: URL(fileURLWithPath: destination))
        do {
            let file = try PartialFile(for: destination)
            try file.write(Data("new!".utf8), at: 0)
            try file.write(Data("N".utf8), at: 0)
            #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == [".mask.tiff.partial-\(getpid())", "mask.tiff"])
            #expect(FileManager.default.contents(atPath: destination) == Data("old".utf8))
        }  // dropped unfinished: the temporary goes, the old file stays
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["mask.tiff"])
        #expect(FileManager.default.contents(atPath: destination) == Data("old".utf8))

        let file = try PartialFile(for: destination)
        try file.append(Data("ne".utf8))
        try file.append(Data("w".utf8))
        try file.commit()
        #expect(FileManager.default.contents(atPath: destination) == Data("new".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["mask.tiff"])
        #expect(throws: TesseraError.self) { try file.append(Data("late".utf8)) }
    }

    @Test func aFolderThatCannotHoldItIsAClearError() throws {
        #expect(throws: TesseraError.self) { try PartialFile(for: "/nonexistent-folder-\(getpid())/x") }
        #expect(throws: TesseraError.self) { try AtomicFile.write(Data(), to: "/nonexistent-folder-\(getpid())/x") }
    }
}
