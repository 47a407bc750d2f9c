import Core

/// Reflect-101 indexing, the border rule of the tiler: outside `0..<count`, coordinates
/// mirror about the edge pixel without repeating it (…, 2, 1, 0, 1, 2, …, n-2, n-1, n-2, …),
/// as numpy's `pad(mode="reflect")`, PyTorch's `ReflectionPad2d` and OpenCV's
/// `BORDER_REFLECT_101` do, folding again as often as needed for far-away coordinates.
@inlinable
public func reflectIndex(_ index: Int, count: Int) -> Int {
    precondition(count > 0)
    if index >= 0 && index < count { return index }
    if count == 1 { return 0 }
    let period = 2 * (count - 1)
    var m = index % period
    if m < 0 { m += period }
    return m < count ? m : period - m
}
