/// Which library reads a slide (cluster.conf's `reader`, `--reader`, a submit's reader).
public enum SlideBackend: String, Sendable, CaseIterable, Codable {
    /// OpenSlide for files that are not TIFF and for the TIFF variants only it places
    /// right; libtiff for the rest.
    case automatic = "auto"
    case tiff
    case openSlide = "openslide"
}
