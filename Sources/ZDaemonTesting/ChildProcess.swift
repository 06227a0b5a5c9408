import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process whose combined standard output and error is collected line by line, for
/// tests that start a program, wait for what it prints, signal it and check how it ends.
public final class ChildProcess: @unchecked Sendable {
    /// The process.
    public let process = Process()
    private let condition = NSCondition()
    private var buffer = Data()
    private var collected: [String] = []
    private var ended = false

    /// Starts `executable` with `arguments`, this process's environment plus `environment`, in
    /// `directory` (default: this process's), standard input empty.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], directory: String? = nil) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            self?.append(data)
        }
        try process.run()
    }

    private func append(_ data: Data) {
        condition.lock()
        defer {
            condition.broadcast()
            condition.unlock()
        }
        if data.isEmpty {
            if !buffer.isEmpty { collected.append(String(decoding: buffer, as: UTF8.self)) }
            buffer.removeAll()
            ended = true
            return
        }
        buffer.append(data)
        while let newline = buffer.firstIndex(of: 10) {
            collected.append(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
            buffer.removeSubrange(buffer.startIndex...newline)
        }
    }

    /// The process id.
    public var pid: Int32 { process.processIdentifier }

    /// The lines so far.
    public var lines: [String] { condition.withLock { collected } }

    /// Waits until `predicate` holds for the lines so far, or `timeout` seconds passed.
    @discardableResult
    public func waitFor(timeout: Double = 20, _ predicate: ([String]) -> Bool) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(collected) {
            if ended || !condition.wait(until: deadline) { return predicate(collected) }
        }
        return true
    }

    /// Waits for a line containing `text`.
    @discardableResult
    public func waitForLine(containing text: String, count: Int = 1, timeout: Double = 20) -> Bool {
        waitFor(timeout: timeout) { lines in lines.filter { $0.contains(text) }.count >= count }
    }

    /// Waits for the process to end (and its output to be read); kills it after `timeout`.
    /// Returns the exit status (128 + signal when killed by a signal), nil on timeout.
    public func waitForExit(timeout: Double = 30) -> Int32? {
        let deadline = Date(timeIntervalSinceNow: timeout)
        while process.isRunning, Date() < deadline {
            // Poll the child's state (there is no blocking wait with a deadline in Foundation).
            usleep(5_000)
        }
        if process.isRunning {
            dumpStacks()
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        waitFor(timeout: 5) { _ in false }  // drain the pipe until EOF (returns at EOF)
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Sends signal `number` to the process.
    public func signal(_ number: Int32) { kill(pid, number) }

    /// With `ZGEN_IT_HANG_DIR` set, writes the state and stacks (gdb) of a process that did not
    /// end in time and of its children to that directory, for diagnosing hangs.
    private func dumpStacks() {
        guard let directory = ProcessInfo.processInfo.environment["ZGEN_IT_HANG_DIR"] else { return }
        let script = """
            for p in $(pgrep -P \(pid)) \(pid); do
              echo "== $p $(cat /proc/$p/comm) $(cut -d' ' -f3 /proc/$p/stat)"
              gdb -batch -p $p -ex 'thread apply all bt' 2>&1 | grep -E '^#|^Thread'
            done > \(directory)/hang-\(pid).txt 2>&1
            """
        let dump = Process()
        dump.executableURL = URL(fileURLWithPath: "/bin/bash")
        dump.arguments = ["-c", script]
        try? dump.run()
        dump.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(pid, SIGKILL) }
    }
}

/// The mode a test runs in when ``runIsolatedTest(_:mode:)`` or ``startIsolatedTest(_:mode:)``
/// started this test process as a child of another (its `ZGEN_ISOLATED_TEST`), else `nil`.
/// Tests that must run alone (memory, signals, a quiet cooperative pool) are enabled for their
/// mode only, and the test that starts them is disabled in the child.
public let isolatedTestMode: String? = ProcessInfo.processInfo.environment["ZGEN_ISOLATED_TEST"]

/// Runs the tests matching `filter` of this very test binary (swift-testing) in a child process
/// in `mode` (see ``isolatedTestMode``) until it exits; returns its status and output.
public func runIsolatedTest(_ filter: String, mode: String) throws -> ToolRun {
    try runTool(try testBinary(), isolatedArguments(filter),
                environment: ProcessInfo.processInfo.environment.merging(["ZGEN_ISOLATED_TEST": mode]) { $1 })
}

/// Starts the tests matching `filter` of this very test binary in a child process in `mode`, for
/// a test that waits for what it prints and signals it; `environment` adds to this process's
/// (how a test hands the child its paths and endpoints).
public func startIsolatedTest(_ filter: String, mode: String, environment: [String: String] = [:]) throws -> ChildProcess {
    try ChildProcess(try testBinary(), isolatedArguments(filter), environment: environment.merging(["ZGEN_ISOLATED_TEST": mode]) { $1 })
}

private func testBinary() throws -> URL {
    URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
}

private func isolatedArguments(_ filter: String) -> [String] {
    ["--testing-library", "swift-testing", "--filter", filter]
}

extension ToolRun {
    /// Whether swift-testing reported exactly one test, passed (the isolated test ran, and passed).
    public var oneTestPassed: Bool { output.contains("with 1 test") && output.contains("passed") }
}
