import Foundation

/// Runs the built `tessera` binary as a user would.
public enum TesseraBinary {
    /// The binary beside the test bundle (both are products of the same build).
    public static var path: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("tessera").path
    }

    /// Runs it to completion with `arguments` (and `environment`, this process's when nil),
    /// returning the exit status and its output.
    public static func run(
        _ arguments: [String], environment: [String: String]? = nil,
        timeout: TimeInterval = 120
    ) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = try ManagedProcess(arguments, environment: environment)
        let status = process.wait(timeout: timeout)
        return (status ?? -1, process.stdout, process.stderr)
    }
}

/// A `tessera` process started by a test: its output collected as it comes, waited on by
/// content rather than by sleeping, and killed by its own PID if still running when
/// released, so a failed test leaves nothing behind.
///
/// Each pipe is read by a thread of its own with blocking reads until end of file, not by
/// `FileHandle.readabilityHandler`: libdispatch's sources for the latter, on many pipes
/// opened and closed at once, crash its event loop on Linux (swift-corelibs-foundation
/// issue 3276; it took a test run down here).
public final class ManagedProcess: @unchecked Sendable {
    private let process = Process()
    private let out = Output(), err = Output()
    public let arguments: [String]

    /// What a pipe delivered so far, and whether it reached end of file.
    private final class Output: @unchecked Sendable {
        private let lock = NSLock()
        private var data = Data()
        let finished = DispatchSemaphore(value: 0)

        var text: String { lock.withLock { String(decoding: data, as: UTF8.self) } }

        /// Reads `handle` to its end on a thread of its own.
        func drain(_ handle: FileHandle) {
            Thread { [self] in
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let count = buffer.withUnsafeMutableBytes { read(handle.fileDescriptor, $0.baseAddress, $0.count) }
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { break }
                    lock.withLock { data.append(contentsOf: buffer[0..<count]) }
                }
                withExtendedLifetime(handle) {}
                finished.signal()
            }.start()
        }
    }

    /// Runs `executable` (the built `tessera` unless given: a script that drives it, say).
    public init(_ arguments: [String], environment: [String: String]? = nil, executable: String? = nil) throws {
        self.arguments = arguments
        process.executableURL = URL(fileURLWithPath: executable ?? TesseraBinary.path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        // Children inherit the spawning thread's signal mask, and test threads (libdispatch's
        // workers) block SIGTERM and others: a process started so would never see the
        // SIGTERM a test sends it. Spawn with none blocked, as a shell would.
        var none = sigset_t(), previous = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        out.drain(outPipe.fileHandleForReading)
        err.drain(errPipe.fileHandleForReading)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }
    public var stdout: String { out.text }
    public var stderr: String { err.text }

    /// Waits until standard error contains `text`; false on timeout or exit.
    @discardableResult
    public func waitForError(_ text: String, timeout: TimeInterval = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stderr.contains(text) { return true }
            if !process.isRunning { return stderr.contains(text) }
            usleep(20_000)
        }
        return false
    }

    /// Waits for the process to exit; its status, or nil on timeout.
    public func wait(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        process.waitUntilExit()
        // The pipes' last bytes: both reach end of file once no process holds them (a child
        // left running by this one may, so not forever).
        for output in [out, err] where output.finished.wait(timeout: .now() + 2) == .success { output.finished.signal() }
        return process.terminationStatus
    }

    /// Sends `signal` to this process alone.
    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    /// SIGTERM, then SIGKILL if it has not stopped within `grace` seconds.
    public func stop(grace: TimeInterval = 5) {
        signal(SIGTERM)
        if wait(timeout: grace) == nil {
            signal(SIGKILL)
            _ = wait(timeout: 5)
        }
    }
}
