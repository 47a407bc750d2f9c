/// A stain normalisation method, as cluster.conf, the command line, reference files and the
/// wire name it: "macenko" or "reinhard".
public enum StainMethod: String, Sendable, Codable, CaseIterable {
    case macenko, reinhard
}
