import Foundation

/// Which address of a member's `endpoint` its predecessor connects to.
extension RingAllReduce {
    /// How an `endpoint` ends when its member takes segments through shared memory over
    /// its ipc socket (`SegmentRegion`): "shm:" and the name of a file it made in the
    /// /dev/shm it sees, which a predecessor must see too.
    static let sharedMemoryToken = "shm:"

    /// The marker file an endpoint names, if it takes segments through shared memory.
    static func sharedMemoryMarker(_ endpoint: String) -> Substring? {
        endpoint.split(separator: " ").first { $0.hasPrefix(sharedMemoryToken) }?.dropFirst(sharedMemoryToken.count)
    }

    /// Whether `bind` is a tcp endpoint on the loopback interface.
    static func isLoopback(_ bind: String) -> Bool {
        ["tcp://127.", "tcp://localhost:", "tcp://[::1]:"].contains { bind.hasPrefix($0) }
    }

    /// Which of the endpoints in `endpoint` (space-separated, as `endpoint` names them) a
    /// predecessor connects to: an ipc one it sees listening (it is on the same machine, and
    /// ipc moves the ring's segments with less of the kernel's work than tcp), else the
    /// first that is not ipc.
    package static func reachable(_ endpoint: String, listening: (String) -> Bool = isListening) -> String {
        let endpoints = endpoint.split(separator: " ").map(String.init).filter { !$0.hasPrefix(sharedMemoryToken) }
        if let local = endpoints.first(where: { $0.hasPrefix("ipc://") && listening(String($0.dropFirst("ipc://".count))) }) { return local }
        return endpoints.first { !$0.hasPrefix("ipc://") } ?? endpoints.first ?? endpoint
    }

    /// Whether a Unix socket listens at `path`: a socket file there, or for an abstract name
    /// ("@name") one that /proc/net/unix lists (abstract names are per network namespace,
    /// as loopback is).
    static func isListening(_ path: String) -> Bool {
        guard path.hasPrefix("@") else {
            return (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeSocket
        }
        guard let table = try? String(contentsOfFile: "/proc/net/unix", encoding: .utf8) else { return false }
        return table.split(separator: "\n").contains { $0.split(separator: " ").last.map(String.init) == path }
    }
}
