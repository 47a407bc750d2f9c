import Core
import Foundation

/// A comma-separated table with a header row, as the competitions' CSV files are
/// (RFC 4180: fields may be quoted, quotes doubled inside them).
public struct CSVTable: Sendable {
    public var header: [String]
    public var rows: [[String]]

    public init(header: [String], rows: [[String]] = []) {
        self.header = header
        self.rows = rows
    }

    /// Parses `text`; `source` names the file in errors, which give the line.
    public init(parsing text: String, source: String) throws {
        var records: [[String]] = []
        var field = ""
        var record: [String] = []
        var quoted = false
        var line = 1
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        func next() -> Unicode.Scalar? {
            if let scalar = pending { pending = nil; return scalar }
            return iterator.next()
        }
        while let scalar = next() {
            if quoted {
                if scalar == "\"" {
                    if let following = next() {
                        if following == "\"" { field.unicodeScalars.append("\"") } else { quoted = false; pending = following }
                    } else {
                        quoted = false
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"" where field.isEmpty: quoted = true
            case ",": record.append(field); field = ""
            case "\r": continue
            case "\n":
                record.append(field); field = ""
                records.append(record); record = []
                line += 1
            default: field.unicodeScalars.append(scalar)
            }
        }
        if quoted { throw TesseraError(source, "line \(line): a quoted field is not closed", code: .malformed) }
        if !field.isEmpty || !record.isEmpty { record.append(field); records.append(record) }
        records.removeAll { $0 == [""] }
        guard let header = records.first else { throw TesseraError(source, "the file is empty", code: .malformed) }
        for (index, row) in records.enumerated().dropFirst() where row.count != header.count {
            throw TesseraError(source, "line \(index + 1): \(row.count) fields where the header has \(header.count)", code: .malformed)
        }
        self.header = header.map { $0.trimmingCharacters(in: .whitespaces) }
        self.rows = Array(records.dropFirst())
    }

    /// Reads and parses a CSV file.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TesseraError(path, "cannot read the file", code: .io)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw TesseraError(path, "not UTF-8 text", code: .malformed) }
        try self.init(parsing: text, source: path)
    }

    /// The column named `name`, or an error naming the columns there are.
    public func column(_ name: String, source: String) throws -> Int {
        guard let index = header.firstIndex(of: name) else {
            throw TesseraError(source, "no column \"\(name)\" (columns: \(header.joined(separator: ", ")))", code: .notFound)
        }
        return index
    }

    /// The table as CSV text, quoting fields that need it.
    public var text: String {
        func quote(_ field: String) -> String {
            field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
        }
        return ([header] + rows).map { $0.map(quote).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    /// Writes the table to `path`.
    public func write(to path: String) throws {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw TesseraError(path, "cannot write: \(error.localizedDescription)", code: .io)
        }
    }
}
