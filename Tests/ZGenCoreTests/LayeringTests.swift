import Foundation
import Testing

/// The runtime's layers, as SwiftPM sees them (`swift package dump-package`): generated code
/// reaches only the core, and the core only CZeroMQ, swift-log, swift-metrics and the vocabulary.
@Suite("Module layers")
struct LayeringTests {
    /// Each target's direct dependencies (targets and products, by name), from the manifest.
    static func dependencies() throws -> [String: [String]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swift", "package", "--scratch-path", NSTemporaryDirectory() + "zgen-dump-\(getpid())", "dump-package"]
        process.currentDirectoryURL = Fixtures.repositoryRoot
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "swift package dump-package failed")
        let manifest = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let targets = try #require(manifest["targets"] as? [[String: Any]])
        var result: [String: [String]] = [:]
        for target in targets {
            let name = try #require(target["name"] as? String)
            let entries = target["dependencies"] as? [[String: Any]] ?? []
            result[name] = entries.compactMap { entry in
                for kind in ["byName", "target", "product"] {
                    if let parts = entry[kind] as? [Any], let first = parts.first as? String { return first }
                }
                return nil
            }
        }
        return result
    }

    /// Everything `target` reaches through target and product dependencies.
    static func closure(of target: String, in graph: [String: [String]]) -> Set<String> {
        var seen: Set<String> = []
        var queue = graph[target] ?? []
        while let next = queue.popLast() {
            guard seen.insert(next).inserted else { continue }
            queue += graph[next] ?? []
        }
        return seen
    }

    @Test("Generated reaches the core only: no ArgumentParser, ServiceLifecycle, INI or CURVE module")
    func generatedReachesOnlyTheCore() throws {
        let graph = try Self.dependencies()
        let reached = Self.closure(of: "Generated", in: graph)
        #expect(reached == ["ZDaemon", "CZeroMQ", "ZGenVocabulary", "Logging", "Metrics"])
        #expect(Set(graph["ZGenVocabulary"] ?? ["?"]).isEmpty)
        let generator = Self.closure(of: "ZGenCore", in: graph)
        #expect(generator == ["INIFormat", "ZGenVocabulary"])
    }

    @Test("the core names no CURVE or ZAP type, and no module above it")
    func coreNamesNoSecurityType() throws {
        let core = Fixtures.repositoryRoot.appendingPathComponent("Sources/ZDaemon")
        let files = try #require(FileManager.default.subpaths(atPath: core.path)).filter { $0.hasSuffix(".swift") }
        #expect(!files.isEmpty)
        // Type names of the security module (CurveKeyPair, ZAPHandler, …) and modules above the core.
        let forbidden = try Regex(
            #"(?:^|[^A-Za-z0-9_])(Curve[A-Z][A-Za-z]*|ZAP[A-Z][a-z][A-Za-z]*|SecurityConfiguration\b|ServiceLifecycle|ArgumentParser|INIFormat|import ZDaemon[A-Z])"#)
        for file in files {
            let text = try String(contentsOf: core.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                let found = line.firstMatch(of: forbidden) != nil
                #expect(!found, "Sources/ZDaemon/\(file): \(line)")
            }
        }
    }
}
