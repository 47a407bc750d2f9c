/// A pointer handed to parallel workers that each write a disjoint part of its memory.
///
/// `DispatchQueue.concurrentPerform` needs `Sendable` captures; raw pointers are not, since
/// the compiler cannot see that the workers' ranges never overlap. The caller promises it.
public struct DisjointPointer<Element>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Element>
    public init(_ base: UnsafeMutablePointer<Element>) { self.base = base }
}
