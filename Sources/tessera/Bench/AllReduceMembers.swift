import ArgumentParser
import Core
import Engine
import Foundation
import Shared
import ZeroMQ

/// All-reduces among member processes, as gloo's are measured: `tessera bench allreduce`
/// starts one `allreduce-member` process per rank, each with its own ZeroMQ context, and
/// they find their successors through files in a scratch folder.
enum AllReduceMembers {
    /// Per timed all-reduce, the slowest member's seconds: `members` processes, `count`
    /// floats, `repeats` timed all-reduces after a warm-up, each after a barrier.
    static func seconds(members: Int, count: Int, repeats: Int, segment: Int, transport: LocalRing.Transport) throws -> [Double] {
        let folder = NSTemporaryDirectory() + "tessera-allreduce-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let processes = try (0..<members).map { rank -> (Process, Pipe) in
            let process = Process(), output = Pipe()
            process.executableURL = executable
            process.arguments = [
                "bench", "allreduce-member", "--rank", "\(rank)", "--members", "\(members)", "--count", "\(count)", "--repeats", "\(repeats)",
                "--segment", "\(segment)", "--transport", transport.rawValue, "--folder", folder,
            ]
            process.standardOutput = output
            try process.run()
            return (process, output)
        }
        var perMember: [[Double]] = []
        for (process, output) in processes {
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0, let times = try? JSONDecoder().decode([Double].self, from: data), times.count == repeats else {
                processes.forEach { if $0.0.isRunning { $0.0.terminate() } }
                throw TesseraError("bench allreduce", "a member process failed (status \(process.terminationStatus))", code: .refused)
            }
            perMember.append(times)
        }
        return (0..<repeats).map { i in perMember.map { $0[i] }.max()! }
    }

    /// `tessera bench allreduce-member`: one rank of `AllReduceMembers.seconds` (hidden).
    struct Member: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "allreduce-member", abstract: "One member process of bench allreduce.", shouldDisplay: false)

        @Option var rank: Int
        @Option var members: Int
        @Option var count: Int
        @Option var repeats: Int
        @Option var segment: Int
        @Option var transport: LocalRing.Transport
        @Option var folder: String

        func run() throws {
            // As in a worker: libzmq's 2 MB message buffers are reused, not mapped afresh.
            HeapRetention.enableOnce()
            let context = try ZMQContext()
            let ring = try RingAllReduce(
                context: context, rank: rank, members: members, bind: transport.bind(prefix: "\(folder)/ring", rank: rank), ipcBeside: transport.ipcBeside,
                sharedMemory: transport.sharedMemory)
            ring.segmentValues = segment
            try AtomicFile.write(Data(ring.endpoint.utf8), to: "\(folder)/\(rank).endpoint")
            let successor = "\(folder)/\((rank + 1) % members).endpoint"
            let deadline = Date().addingTimeInterval(30)
            while !FileManager.default.fileExists(atPath: successor) {
                guard Date() < deadline else { throw TesseraError(successor, "the successor did not start", code: .timeout) }
                usleep(2000)
            }
            try ring.connect(successor: String(decoding: try Data(contentsOf: URL(fileURLWithPath: successor)), as: UTF8.self))
            var buffer = [Float](repeating: Float(rank), count: count), token: [Float] = [0]
            var round: UInt64 = 0
            func next() -> UInt64 {
                round += 1
                return round
            }
            try ring.allReduce(&buffer, round: next())  // warm-up: connections made
            var times: [Double] = []
            for _ in 0..<repeats {
                try ring.allReduce(&token, round: next())  // a barrier
                let start = DispatchTime.now().uptimeNanoseconds
                try ring.allReduce(&buffer, round: next())
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            try ring.allReduce(&token, round: next())  // nobody leaves while others still send
            FileHandle.standardOutput.write(try JSONEncoder().encode(times))
        }
    }
}
