/// One level of a slide's pyramid: the full-resolution image (downsample 1), or a tiled
/// reduced copy of it by a whole factor, as scanners write them (Aperio's 4× and 16×,
/// OME-TIFF's sub-IFDs).
public struct SlideLevel: Sendable, Equatable {
    public var directory: SlideDirectory
    /// Full-resolution pixels per level pixel along each side.
    public var downsample: Int

    /// The levels among `directories`, finest first: `full`, then every tiled RGB directory
    /// whose sides are `full`'s divided by a whole factor (rounded either way). Thumbnails
    /// (in strips), labels and macros (other shapes) are left out; of two copies at one
    /// factor, the first is kept.
    public static func levels(of directories: [SlideDirectory], full: SlideDirectory) -> [SlideLevel] {
        var levels = [SlideLevel(directory: full, downsample: 1)]
        for directory in directories where directory.tileSize != nil && directory.samplesPerPixel >= 3 && directory.width > 0 {
            let factor = Int((Double(full.width) / Double(directory.width)).rounded())
            guard factor >= 2, fits(full.width, directory.width, factor), fits(full.height, directory.height, factor),
                !levels.contains(where: { $0.downsample == factor })
            else { continue }
            levels.append(SlideLevel(directory: directory, downsample: factor))
        }
        return levels.sorted { $0.downsample < $1.downsample }
    }

    /// Whether `reduced` is `full` divided by `factor`, rounded down or up.
    private static func fits(_ full: Int, _ reduced: Int, _ factor: Int) -> Bool {
        reduced == full / factor || reduced == (full + factor - 1) / factor
    }
}
