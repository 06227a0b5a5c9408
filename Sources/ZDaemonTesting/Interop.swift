import Foundation

/// Whether `python3` with pyzmq (`import zmq, zmq.auth`) works here: the interoperability tests
/// run against it (`python3 -m pip install pyzmq`).
public let pyzmqAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import zmq, zmq.auth"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0
    } catch {
        return false
    }
}()

/// Whether tests run under CI (`CI=true`), where a missing interoperability peer such as pyzmq
/// is a failure rather than a skip: CI must never pass by silently testing less.
public var interopRequired: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

/// What a finished tool run printed (standard output and error together) and its exit status.
public struct ToolRun: Sendable {
    /// The exit status.
    public var status: Int32
    /// Standard output and standard error, interleaved as written.
    public var output: String
}

/// Runs `executable` with `arguments` (and `environment`, default: this process's) until it
/// exits; returns its status and output.
public func runTool(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> ToolRun {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return ToolRun(status: process.terminationStatus, output: output)
}
