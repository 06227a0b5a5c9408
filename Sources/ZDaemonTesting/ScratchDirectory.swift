import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private temporary directory for one test, removed when the object goes away. Its path is
/// short (`/tmp/<prefix>-XXXXXX`) because ipc endpoints are limited to about 100 bytes.
public final class ScratchDirectory: @unchecked Sendable {
    /// The directory's path.
    public let path: String

    /// Makes a new directory `/tmp/<prefix>-XXXXXX` (mode 0700).
    public init(prefix: String = "zdaemon-test") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw DaemonTestError("mkdtemp /tmp/\(prefix)-XXXXXX: \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { "\(path)/\(name)" }

    /// An ipc endpoint inside the directory: `ipc://<path>/<name>`.
    public func endpoint(_ name: String) -> String { "ipc://\(path)/\(name)" }

    /// Writes `text` to `name` with `mode`; returns the path.
    @discardableResult
    public func write(_ name: String, _ text: String, mode: mode_t = 0o644) throws -> String {
        let path = file(name)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    /// Makes a subdirectory (and its parents); returns its path.
    @discardableResult
    public func directory(_ name: String) throws -> String {
        let path = file(name)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// A built executable of the package under test: looked up next to the running test bundle
/// (and up to three folders above it: SwiftPM puts products beside the test runner), then in
/// `directories`. Throws ``DaemonTestError`` naming every place it looked.
public func builtExecutable(_ name: String, alsoIn directories: [URL] = []) throws -> URL {
    var candidates: [URL] = []
    if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
        var directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent(name))
            directory = directory.deletingLastPathComponent()
        }
    }
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent(name))
    candidates += directories.map { $0.appendingPathComponent(name) }
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) {
        return candidate
    }
    throw DaemonTestError("executable '\(name)' not found (looked in \(candidates.map(\.path))); run `swift build` first")
}
