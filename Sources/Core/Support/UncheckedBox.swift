/// A value handed to another thread that, from then on, alone uses it (or only reads it).
///
/// `Thread` and `concurrentPerform` need `Sendable` captures; models, writers and closures
/// over disjoint data are not, though the hand-over makes them safe. The caller promises it.
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
