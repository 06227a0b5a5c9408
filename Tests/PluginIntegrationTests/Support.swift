import Foundation

/// Where the package under test lives, and where fixture packages are built.
enum Paths {
    /// The root of this checkout (the folder with Package.swift).
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Fixture packages and their one shared build folder (git-ignored through `.build-*/`), kept
    /// between runs so a second run builds incrementally.
    static let fixtures = repository.appendingPathComponent(".build-fixtures")

    /// One scratch path for every nested build: dependencies are built once.
    static let scratch = fixtures.appendingPathComponent("scratch")
}

/// Reads the README's example package out of its Markdown.
enum ReadmeExample {
    /// A file of the example: its path relative to the package and its text.
    struct File: Equatable {
        var path: String
        var contents: String
    }

    /// A README that does not have what the test expects.
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    /// The files of the section under `heading` (a whole Markdown heading line): every fenced
    /// code block whose preceding non-blank line ends in `` `relative/path`: ``.
    static func files(in markdown: String, heading: String) throws -> [File] {
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == heading }) else {
            throw Problem(description: "README.md has no heading '\(heading)'")
        }
        let level = heading.prefix { $0 == "#" }.count
        var files: [File] = []
        var previous = ""  // the last non-blank line outside a code block
        var index = start + 1
        while index < lines.count {
            let line = lines[index]
            let hashes = line.prefix { $0 == "#" }.count
            if hashes > 0 && hashes <= level && line.dropFirst(hashes).first == " " { break }  // next section
            let unindented = line.drop { $0 == " " }
            if unindented.hasPrefix("```") {
                let fence = String(unindented.prefix { $0 == "`" })
                var body: [String] = []
                index += 1
                while index < lines.count && !lines[index].drop(while: { $0 == " " }).hasPrefix(fence) {
                    body.append(lines[index])
                    index += 1
                }
                if let path = pathLabel(previous) {
                    files.append(File(path: path, contents: body.joined(separator: "\n") + "\n"))
                }
                previous = ""
            } else if !line.trimmingCharacters(in: .whitespaces).isEmpty {
                previous = line
            }
            index += 1
        }
        return files
    }

    /// `` `Sources/App/main.swift`: `` at the end of a line → `Sources/App/main.swift`.
    static func pathLabel(_ line: String) -> String? {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.hasSuffix("`:") else { return nil }
        let body = trimmed.dropLast(2)
        guard let open = body.lastIndex(of: "`") else { return nil }
        let path = String(body[body.index(after: open)...])
        guard !path.isEmpty, !path.hasPrefix("/"), !path.contains(".."), !path.contains(" ") else { return nil }
        return path
    }

    /// The manifest with its zgen `.package(url:…)` dependency swapped for the named path
    /// dependency the README prescribes, `.package(name: "zgen", path:)`: this checkout's folder
    /// is not called `zgen`, so the name is what makes `package: "zgen"` resolve.
    static func localManifest(_ manifest: String, zgenPath: String) throws -> String {
        let pattern = #/\.package\(\s*url:\s*"[^"]*/zgen(\.git)?"\s*,[^)]*\)/#
        guard manifest.contains(pattern) else {
            throw Problem(description: "the README's Package.swift has no `.package(url: \".../zgen.git\", ...)` line")
        }
        return manifest.replacing(pattern, with: ".package(name: \"zgen\", path: \"\(zgenPath)\")")
    }
}

/// A finished child process.
struct ToolResult {
    /// The exit status.
    var status: Int32
    /// Standard output and standard error, merged.
    var output: String
}

/// Runs `swift` (from PATH) with `arguments` in `directory`, killing it after `timeout` seconds.
/// Niced: a nested build must not starve the timing-sensitive tests running alongside it.
func swift(_ arguments: [String], in directory: URL, timeout: TimeInterval = 1500) throws -> ToolResult {
    try runTool(URL(fileURLWithPath: "/usr/bin/env"), ["nice", "-n", "10", "swift"] + arguments, in: directory, timeout: timeout)
}

/// Runs a program in `directory`, killing it after `timeout` seconds.
func runTool(_ executable: URL, _ arguments: [String], in directory: URL, timeout: TimeInterval) throws -> ToolResult {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.currentDirectoryURL = directory
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let watchdog = DispatchWorkItem { [process] in if process.isRunning { process.terminate() } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: watchdog)
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    watchdog.cancel()
    return ToolResult(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
}

/// Writes `contents` to `url` unless it already holds exactly that (keeps mtimes, so nested builds
/// stay incremental), creating folders as needed.
func write(_ contents: String, to url: URL) throws {
    if (try? String(contentsOf: url, encoding: .utf8)) == contents { return }
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try contents.write(to: url, atomically: true, encoding: .utf8)
}
