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
