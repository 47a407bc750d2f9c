import Dispatch
import Synchronization

/// Where a forward pass spends its time, convolution by convolution shape: recorded only
/// while `isRecording` is on (`tessera bench engine --layers` prints it), and the count of
/// multiply-adds benchmarks turn into GFLOP/s.
public enum LayerProfile {
    /// Time, calls and multiply-adds of the convolutions of one shape.
    public struct Entry: Sendable {
        public var calls = 0
        public var seconds = 0.0
        public var multiplyAdds = 0
    }

    public static var isRecording: Bool {
        get { recording.load(ordering: .relaxed) }
        set { recording.store(newValue, ordering: .relaxed) }
    }
    private static let recording = Atomic<Bool>(false)
    private static let recorded = Mutex<[String: Entry]>([:])

    /// What was recorded, by convolution shape.
    public static var entries: [String: Entry] { recorded.withLock { $0 } }

    /// Forgets everything recorded.
    public static func reset() { recorded.withLock { $0 = [:] } }

    /// Multiply-adds of every convolution recorded.
    public static var multiplyAdds: Int { entries.values.reduce(0) { $0 + $1.multiplyAdds } }

    /// Runs `body`, charging its time and `multiplyAdds` to `label` when recording.
    @inline(__always)
    static func measure<T>(_ label: @autoclosure () -> String, multiplyAdds: Int, _ body: () -> T) -> T {
        guard isRecording else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let key = label()
        recorded.withLock { entries in
            entries[key, default: Entry()].calls += 1
            entries[key, default: Entry()].seconds += seconds
            entries[key, default: Entry()].multiplyAdds += multiplyAdds
        }
        return result
    }
}
