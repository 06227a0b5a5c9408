import Foundation
import Testing
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The repository's root, from this file's path (Tests/IntegrationTests/Support.swift).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// A built executable of this package: next to the running test bundle, else in `.build/debug`.
/// `swift test` builds every product first.
func executable(_ name: String) throws -> URL {
    try builtExecutable(name, alsoIn: [repositoryRoot.appendingPathComponent(".build/debug")])
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

extension ScratchDirectory {
    /// Overrides that put the example's channels and control channel in this directory.
    var exampleOverrides: [String] {
        [
            "--set", "*.job.endpoint=\(endpoint("job"))",
            "--set", "*.broadcast.endpoint=\(endpoint("broadcast"))",
            "--set", "control.endpoint=\(endpoint("control"))",
            // Workers start before the server binds; retry connecting every 10 ms, not libzmq's 100.
            "--set", "MyWorker.broadcast.reconnect_ivl=10",
            "--set", "MyWorker.job.reconnect_ivl=10",
        ]
    }
}

