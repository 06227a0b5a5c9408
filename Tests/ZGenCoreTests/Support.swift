import Foundation
import Testing

@testable import ZGenCore

/// Paths of the repository and of this test target's fixtures, found from this file's path.
enum Fixtures {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let repositoryRoot = testsDirectory.deletingLastPathComponent().deletingLastPathComponent()
    static let invalidDirectory = testsDirectory.appendingPathComponent("Invalid")
    static let goldenSchemas = testsDirectory.appendingPathComponent("Golden/Schemas")
    static let goldenExpected = testsDirectory.appendingPathComponent("Golden/Expected")
    static let schemasDirectory = repositoryRoot.appendingPathComponent("Schemas")
    static let generatedDirectory = repositoryRoot.appendingPathComponent("Generated")

    static func files(in directory: URL, extensions: [String]) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.sorted().filter { name in extensions.contains { name.hasSuffix("." + $0) } }.map { directory.appendingPathComponent($0) }
    }

    static func bytes(_ url: URL) -> [UInt8] {
        (try? Data(contentsOf: url)).map { [UInt8]($0) } ?? []
    }

    static func text(_ url: URL) -> String? {
        (try? Data(contentsOf: url)).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Generates from text, the path naming the form and the output.
func generate(_ text: String, path: String = "test.json", access: AccessLevel = .public) -> GenerationResult {
    ZGen.generate(schemaAt: path, contents: Array(text.utf8), accessLevel: access)
}

/// A minimal valid JSON schema around `channels` of one daemon `A`.
func schemaJSON(messages: String = #""Text": { "frames": [ { "name": "text", "type": "string" } ] }"#, daemons: String) -> String {
    """
    {
      "zgen": 1,
      "app": "test",
      "messages": { \(messages) },
      "daemons": { \(daemons) }
    }
    """
}
