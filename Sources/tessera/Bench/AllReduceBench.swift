import ArgumentParser
import Core
import Engine
import Foundation
import Shared
import Training
import Worker
import ZeroMQ

/// `tessera bench allreduce`: the ring all-reduce's bus bandwidth beside the loopback
/// limit, and data-parallel training's images/s against one process.
struct AllReduceBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "Time ring all-reduces of a model's gradient on loopback, and data-parallel training steps.",
        discussion: """
            Each member is a process of its own (or, with --members-as threads, a thread with its \
            own ZeroMQ context), over tcp on 127.0.0.1 (or ipc). With --gloo PYTHON (a Python \
            with torch), PyTorch's gloo all-reduce of the same size among as many processes \
            (bench/allreduce_gloo.py) takes turns with Tessera's, round by round, and the ratio of \
            their bus bandwidths is printed. \
            Bus bandwidth is NCCL's: 2(N − 1)/N · size / time; the ring limit is that volume over \
            raw ZeroMQ loopback bandwidth (1 MB messages), measured in the same run, taking turns \
            with the all-reduces. Then training images/s of one replica on --threads threads \
            against --threads replicas on one thread each, summing over a ring (EffUnet-b0, 256², \
            batch 8 in all).
            """
    )

    @Option(help: "The model whose gradient is reduced.") var model = "effunet-b0"
    @Option(help: "Ring sizes, comma-separated.") var members = "2,3,4"
    @Option(help: "Rounds (medians are printed).") var rounds = 5
    @Option(help: "Training steps timed per setting (after a warm-up); 0 skips training.") var steps = 2
    @Option(help: "Threads of the single replica, and replicas of the ring.") var threads = 2
    @Option(help: "Values a ring message carries at most.") var segment = RingAllReduce.defaultSegmentValues
    @Option(
        help: """
            local (as workers on one machine: tcp on loopback with ipc beside, ipc taken, segments through shared memory), \
            local-sockets (the same, segments in messages), tcp or ipc.
            """)
    var transport = LocalRing.Transport.local
    @Option(help: "Gradient buckets summed during the backward pass, in MB (0: one sum after it).") var bucketMb = 0.0
    @Option(help: "Members as processes (as gloo's are) or threads.") var membersAs = MemberKind.processes
    @Option(help: "A Python with torch: also time gloo's all-reduce (bench/allreduce_gloo.py), taking turns.") var gloo: String?
    @Option(help: "The gloo reference script.") var glooScript = "bench/allreduce_gloo.py"
    @Option(help: "Timed all-reduces in each process run (the median counts for the round).") var repeats = 3

    enum MemberKind: String, ExpressibleByArgument, CaseIterable { case processes, threads }

    func validate() throws {
        guard gloo == nil || membersAs == .processes else { throw ValidationError("--gloo compares processes with processes: leave --members-as threads out") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
    }

    func run() throws {
        let count = try ParameterStore(architecture: model).values.count
        let sizes = members.split(separator: ",").compactMap { Int($0) }.filter { $0 >= 2 }
        guard !sizes.isEmpty else { throw ValidationError("--members needs ring sizes of at least 2") }
        print("\(BenchMachine.line); \(model) gradient: \(count) floats, \(String(format: "%.1f", Double(count * 4) / 1e6)) MB")
        switch membersAs {
        case .processes: try runProcesses(sizes: sizes, count: count)
        case .threads: try runThreads(sizes: sizes, count: count)
        }
        guard steps > 0 else { return }
        let single = try Self.trainingImagesPerSecond(replicas: 1, threads: threads, steps: steps, model: model)
        let bucketBytes = bucketMb > 0 ? Int(bucketMb * 1e6) : nil
        let ring = try Self.trainingImagesPerSecond(replicas: threads, threads: 1, steps: steps, model: model, bucketBytes: bucketBytes)
        print(
            String(
                format: "training %@, 8 × 256²: 1 replica × %d threads %.2f images/s; %d replicas × 1 thread %.2f images/s (%.2f of it)%@",
                model, threads, single, threads, ring, ring / single, bucketBytes.map { ", buckets of \($0 / 1_000_000) MB" } ?? ""))
    }

    /// Member threads, beside raw ZeroMQ loopback and the ring's traffic without reducing.
    private func runThreads(sizes: [Int], count: Int) throws {
        var loopback: [Double] = [], times: [Int: [Double]] = [:], streams: [Int: [Double]] = [:]
        let raw = transport == .tcp ? "tcp" : "ipc"  // what `local` members end up using
        for _ in 0..<max(1, rounds) {
            loopback.append(try ZeroMQThroughput.measure(transport: raw))
            for n in sizes {
                times[n, default: []].append(try Self.allReduceSeconds(members: n, count: count, segment: segment, transport: transport))
                streams[n, default: []].append(try Self.ringTrafficSeconds(members: n, count: count, segment: segment, transport: transport))
            }
        }
        let bandwidth = Self.median(loopback)
        print(String(format: "raw ZeroMQ loopback (%@, 1 MB messages): %.2f GB/s", raw, bandwidth / 1e9))
        for n in sizes {
            let time = Self.median(times[n]!), volume = 2 * Double(n - 1) / Double(n) * Double(count * 4)
            let limit = volume / bandwidth
            let traffic = Self.median(streams[n]!)
            print(
                String(
                    format: "%d members: %.1f ms an all-reduce, bus bandwidth %.2f GB/s; ring limit %.1f ms: %.0f%% of it; "
                        + "the same traffic without reducing, all members at once: %.1f ms (%.0f%%)",
                    n, time * 1000, volume / time / 1e9, limit * 1000, 100 * limit / time, traffic * 1000, 100 * traffic / time))
        }
    }

    /// Member processes, and gloo's beside them when asked, taking turns round by round.
    private func runProcesses(sizes: [Int], count: Int) throws {
        var ours: [Int: [Double]] = [:], theirs: [Int: [Double]] = [:], ratios: [Int: [Double]] = [:]
        for round in 0..<max(1, rounds) {
            for n in sizes {
                let mine = Self.median(try AllReduceMembers.seconds(members: n, count: count, repeats: repeats, segment: segment, transport: transport))
                ours[n, default: []].append(mine)
                guard let gloo else { continue }
                let reference = Self.median(try Self.glooSeconds(python: gloo, script: glooScript, members: n, count: count, repeats: repeats))
                theirs[n, default: []].append(reference)
                ratios[n, default: []].append(reference / mine)
            }
            FileHandle.standardError.write(Data("round \(round + 1) of \(rounds)\n".utf8))
        }
        for n in sizes {
            let volume = 2 * Double(n - 1) / Double(n) * Double(count * 4), time = Self.median(ours[n]!)
            var line = String(
                format: "%d member processes (%@): %.1f ms an all-reduce, bus bandwidth %.2f GB/s", n, transport.rawValue, time * 1000, volume / time / 1e9)
            if let reference = theirs[n].map(Self.median), let ratio = ratios[n].map({ $0.sorted() }) {
                line += String(
                    format: "; gloo %.1f ms, %.2f GB/s; Tessera/gloo %.2f (median of %d rounds, %.2f–%.2f)", reference * 1000, volume / reference / 1e9,
                    Self.median(ratio), ratio.count, ratio.first!, ratio.last!)
            }
            print(line)
        }
    }

    /// gloo's all-reduce of `count` floats among `members` processes: seconds per timed one.
    static func glooSeconds(python: String, script: String, members: Int, count: Int, repeats: Int) throws -> [Double] {
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script, "\(members)", "\(count)", "\(repeats)"]
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        struct Reply: Decodable { let seconds: [Double] }
        guard process.terminationStatus == 0, let reply = try? JSONDecoder().decode(Reply.self, from: data) else {
            throw TesseraError("\(python) \(script)", "failed (status \(process.terminationStatus)): is torch installed there?", code: .refused)
        }
        return reply.seconds
    }

    /// Median seconds of one all-reduce of `count` floats among `members` threads.
    static func allReduceSeconds(members: Int, count: Int, segment: Int, transport: LocalRing.Transport) throws -> Double {
        try withRing(members, transport: transport) { member in
            member.segmentValues = segment
            var buffer = [Float](repeating: Float(member.rank), count: count)
            try member.allReduce(&buffer, round: 0)  // warm-up: connections made
            let start = DispatchTime.now().uptimeNanoseconds
            try member.allReduce(&buffer, round: 1)
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }.max()!
    }

    /// Seconds for every member to send its successor 2(N − 1) chunks of count/N values in
    /// the ring's segments while receiving as many from its predecessor, nothing added: what
    /// this machine's loopback gives the ring's traffic pattern with all members at once.
    static func ringTrafficSeconds(members: Int, count: Int, segment: Int, transport: LocalRing.Transport) throws -> Double {
        try withRing(members, transport: transport) { member in
            let chunk = count / members
            let payload = [UInt8](repeating: 1, count: min(segment, chunk) * 4)
            try member.exchangeRaw(payload, segments: 1, steps: 1)
            let start = DispatchTime.now().uptimeNanoseconds
            try member.exchangeRaw(payload, segments: (chunk + segment - 1) / segment, steps: 2 * (members - 1))
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }.max()!
    }

    /// Images/s of data-parallel training steps: `replicas` threads, each a trainer on
    /// `threads` engine threads with its share of a batch of 8.
    static func trainingImagesPerSecond(replicas: Int, threads: Int, steps: Int, model: String, bucketBytes: Int? = nil) throws -> Double {
        let saved = Parallel.threads
        Parallel.threads = threads
        defer { Parallel.threads = saved }
        let (images, masks) = TrainBench.syntheticBatch(8, tile: 256, seed: 3)
        let seconds = try withRing(replicas) { member in
            let store = try ParameterStore(architecture: model)
            try store.load(from: DeterministicWeights())
            let trainer = try ModelTrainer(architecture: model, store: store)
            let share = (member.rank * 8 / replicas)..<((member.rank + 1) * 8 / replicas)
            var start = DispatchTime.now().uptimeNanoseconds
            for step in 0...steps {
                if step == 1 { start = DispatchTime.now().uptimeNanoseconds }
                _ = try DataParallelStep.gradients(
                    trainer, images: Array(images[share]), masks: Array(masks[share]), globalCount: 8,
                    normalisation: .batch(), randoms: nil, replicas: member, step: step,
                    bucketBytes: bucketBytes)
                trainer.step(lr: 1e-4)
                try DataParallelStep.averageRunningStatistics(trainer, shareCount: share.count, globalCount: 8, replicas: member, step: step)
            }
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }.max()!
        return Double(8 * steps) / seconds
    }

    /// Runs `body` on `members` threads joined in a ring on loopback; their results.
    static func withRing<R: Sendable>(
        _ members: Int, transport: LocalRing.Transport = .local, _ body: @escaping @Sendable (RingAllReduce) throws -> R
    ) throws -> [R] {
        try LocalRing(members: members, transport: transport).run(body).map { try $0.get() }
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}

extension LocalRing.Transport: ExpressibleByArgument {}
