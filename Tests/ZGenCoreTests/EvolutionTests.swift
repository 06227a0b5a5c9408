import Foundation
import Testing

@testable import ZGenCore

/// `zgen NEW --breaking-against OLD` over the pairs in Evolution/: `<case>.old.json|ini`,
/// `<case>.new.json` and `<case>.expected` (the exact stderr, then `exit N`). Cases named
/// `compatible_…` must exit 0.
@Suite("Schema evolution: the breaking-change check", .enabled(if: zgenExecutable != nil, "the zgen executable is not built next to the tests"))
struct BreakingChangeTests {
    static let directory = Fixtures.testsDirectory.appendingPathComponent("Evolution")
    static let cases: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
        .filter { $0.hasSuffix(".new.json") }.map { String($0.dropLast(".new.json".count)) }.sorted()

    @Test("the corpus covers every breaking change the README lists, and compatible ones")
    func coverage() {
        for name in ["added_frame_to_strict_message", "added_required_frame", "bind_side_moved", "bound_endpoint_moved",
                     "channel_message_changed", "removed_frame", "renamed_frame", "reordered_frames", "retyped_frame", "socket_changed",
                     "compatible_added_frame", "compatible_renamed_frame", "compatible_renamed_message", "compatible_ini_to_json"] {
            #expect(Self.cases.contains(name), "missing case \(name)")
        }
    }

    @Test("each pair gives exactly its expected diagnostics and exit status", arguments: cases)
    func pair(_ name: String) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path)
        let old = try #require(files.first { $0.hasPrefix(name + ".old.") })
        let expected = try #require(Fixtures.text(Self.directory.appendingPathComponent(name + ".expected")))
        let run = try runZGen([name + ".new.json", "--breaking-against", old], in: Self.directory)
        let actual = run.stderr + "exit \(run.status)\n"
        #expect(actual == expected, "\(UnifiedDiff.diff(old: expected, new: actual, oldName: "expected", newName: "actual"))")
        #expect(run.stdout.isEmpty)
        if name.hasPrefix("compatible_") { #expect(run.status == 0) } else { #expect(run.status == 1) }
    }

    @Test("README's example output is the corpus's (added_frame_to_strict_message)")
    func readmeExample() throws {
        let readme = try #require(Fixtures.text(Fixtures.repositoryRoot.appendingPathComponent("README.md")))
        let expected = try #require(Fixtures.text(Self.directory.appendingPathComponent("added_frame_to_strict_message.expected")))
        let line = try #require(expected.split(separator: "\n").first).replacingOccurrences(of: "added_frame_to_strict_message.new.json", with: "evo.json")
        #expect(readme.contains("$ zgen evo.json --breaking-against evo.old.json\n" + line + "\n"))
    }

    @Test("the new schema's own errors come first, and nothing is compared while either schema is invalid")
    func invalidSchemas() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("zgen-evo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        try Data("{ \"zgen\": 1 }".utf8).write(to: scratch.appendingPathComponent("broken.json"))
        try FileManager.default.copyItem(at: Self.directory.appendingPathComponent("retyped_frame.old.json"),
                                         to: scratch.appendingPathComponent("old.json"))
        let run = try runZGen(["broken.json", "--breaking-against", "old.json"], in: scratch)
        #expect(run.status == 1)
        #expect(run.stderr.hasPrefix("broken.json:"), "\(run.stderr)")
        #expect(!run.stderr.contains("changed from"))
        let missing = try runZGen(["old.json", "--breaking-against", "nowhere.json"], in: scratch)
        #expect(missing.status == 1)
        #expect(missing.stderr == "nowhere.json: error: cannot read the file\n")
    }
}

@Suite("Schema evolution: the new keys")
struct EvolutionKeyTests {
    func diagnostics(_ messages: String) -> [String] {
        let text = #"{ "zgen": 1, "app": "evo", "messages": { "# + messages + #" }, "daemons": {} }"#
        return ZGen.generate(schemaAt: "evo.json", contents: Array(text.utf8)).formattedDiagnostics
    }

    @Test("defaults are checked against the frame's type and must form the tail")
    func defaultsAreChecked() {
        #expect(diagnostics(#""M": { "frames": [ { "name": "a", "type": "uint8", "default": 300 } ] }"#)
            == ["evo.json:1:104: error: `default` must be between 0 and 255, not 300"])
        #expect(diagnostics(#""M": { "frames": [ { "name": "a", "type": "bytes", "default": "x" } ] }"#)
            == ["evo.json:1:93: error: a `bytes` frame cannot have a `default` (only string, bool, integer, float and double frames can)"])
        #expect(diagnostics(#""M": { "frames": [ { "name": "a", "type": "string", "default": "x" }, { "name": "b", "type": "bool" } ] }"#)
            == ["evo.json:1:122: error: frame `b` of `M` needs a `default`: it follows `a`, which has one (frames with defaults must be the last, a repeated frame after them)"])
        #expect(diagnostics(#""M": { "frames": [ { "name": "a", "type": "string" } ], "extraFrames": "sometimes" }"#)
            == ["evo.json:1:113: error: `extraFrames` is `reject` or `ignore`, not `sometimes`"])
        #expect(diagnostics(#""M": { "frames": [ { "name": "a", "type": "double", "default": 0.5 }, { "name": "t", "type": "string", "repeated": true } ] }"#).isEmpty)
    }

    @Test("the INI form says the same as the JSON form")
    func iniForm() throws {
        let ini = """
            [zgen]
            version = 1
            app = evo

            [message:Job]
            frames = id:uint64, priority:uint8
            extraFrames = ignore
            renamedFrom = Task
            default.priority = 3
            renamedFrom.id = number
            """
        let json = #"""
            { "zgen": 1, "app": "evo", "messages": { "Job": { "frames": [
              { "name": "id", "type": "uint64", "renamedFrom": "number" }, { "name": "priority", "type": "uint8", "default": 3 } ],
              "extraFrames": "ignore", "renamedFrom": "Task" } }, "daemons": {} }
            """#
        let fromINI = ZGen.generate(schemaAt: "evo.ini", contents: Array(ini.utf8))
        let fromJSON = ZGen.generate(schemaAt: "evo.json", contents: Array(json.utf8))
        #expect(fromINI.diagnostics.isEmpty, "\(fromINI.formattedDiagnostics)")
        #expect(fromJSON.diagnostics.isEmpty, "\(fromJSON.formattedDiagnostics)")
        #expect(fromINI.schema == fromJSON.schema)
        let message = try #require(fromJSON.schema?.messages.first)
        #expect(message.extraFrames == .ignore && message.renamedFrom == "Task")
        #expect(message.frames.map(\.defaultValue) == [nil, .integer(3)])
        let source = try #require(fromJSON.file?.contents)
        #expect(source.contains("self.priority = try reader.remaining > 0 ? reader.integer(\"priority\", as: UInt8.self) : 3"))
        #expect(source.contains("reader.skipRemaining()"))
    }
}
