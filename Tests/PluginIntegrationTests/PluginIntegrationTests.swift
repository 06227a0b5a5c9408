import Foundation
import Testing

/// Builds the README's example package with real `swift build` / `swift package` runs, through
/// zgen's plugins as another package uses them. The first run builds zgen and its dependencies
/// (minutes); later runs reuse `.build-fixtures/scratch`. Set `ZGEN_SKIP_PLUGIN_INTEGRATION=1`
/// to skip while iterating on something else.
@Suite(
    "README example through the plugins",
    .serialized,
    .disabled(if: ProcessInfo.processInfo.environment["ZGEN_SKIP_PLUGIN_INTEGRATION"] == "1"),
    .timeLimit(.minutes(30))
)
struct PluginIntegrationTests {
    static let heading = "## Using zgen from your package"
    static let target = "Greetings"
    static let schemaPath = "Sources/Greetings/hello.zgen.json"

    /// The README's example, written to `.build-fixtures/readme-example`.
    static func prepareExample() throws -> (directory: URL, files: [ReadmeExample.File]) {
        let readme = try String(contentsOf: Paths.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let files = try ReadmeExample.files(in: readme, heading: heading)
        let directory = Paths.fixtures.appendingPathComponent("readme-example")
        for file in files {
            let contents = file.path == "Package.swift"
                ? try ReadmeExample.localManifest(file.contents, zgenPath: Paths.repository.path) : file.contents
            try write(contents, to: directory.appendingPathComponent(file.path))
        }
        // Sources left from an earlier README (or an interrupted test) must not build along.
        let sources = directory.appendingPathComponent("Sources")
        let wanted = Set(files.map(\.path))
        for relative in (try? FileManager.default.subpathsOfDirectory(atPath: sources.path)) ?? [] {
            var isDirectory: ObjCBool = false
            let url = sources.appendingPathComponent(relative)
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue,
                !wanted.contains("Sources/\(relative)")
            {
                try FileManager.default.removeItem(at: url)
            }
        }
        return (directory, files)
    }

    static func build(_ directory: URL) throws -> ToolResult {
        try swift(["build", "--scratch-path", Paths.scratch.path, "--product", target], in: directory)
    }

    @Test("the README's example is a complete package: manifest, schema, main.swift")
    func readmeHasTheExample() throws {
        let readme = try String(contentsOf: Paths.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let files = try ReadmeExample.files(in: readme, heading: Self.heading)
        #expect(files.map(\.path) == ["Package.swift", Self.schemaPath, "Sources/Greetings/main.swift"])
        let manifest = try #require(files.first)
        #expect(manifest.contents.contains(#".plugin(name: "ZGenBuildPlugin", package: "zgen")"#))
        let local = try ReadmeExample.localManifest(manifest.contents, zgenPath: "/x/zgen")
        #expect(local.contains(#".package(name: "zgen", path: "/x/zgen")"#))
        #expect(!local.contains("github.com"))
    }

    @Test("the README's example builds through the build-tool plugin, runs, and a no-op rebuild does not rerun zgen")
    func readmeExampleBuildsAndRuns() throws {
        let (directory, _) = try Self.prepareExample()
        let first = try Self.build(directory)
        #expect(first.status == 0, "swift build of the README example failed:\n\(first.output)")
        guard first.status == 0 else { return }

        // The generated file is where the plugin said, named from the schema's path alone.
        let outputs = try FileManager.default.subpathsOfDirectory(atPath: Paths.scratch.appendingPathComponent("plugins/outputs").path)
        #expect(outputs.contains { $0.hasSuffix("/Hello.swift") && $0.contains("ZGenBuildPlugin") }, "\(outputs)")

        // SwiftPM 6.3 relinks a plugin's tool once on the build right after a clean build (which
        // reruns every command using it); from then on an unchanged schema must not rerun zgen,
        // not even when another file of the target changes.
        let settle = try Self.build(directory)
        #expect(settle.status == 0, "\(settle.output)")
        let again = try Self.build(directory)
        #expect(again.status == 0, "\(again.output)")
        #expect(!again.output.contains("zgen hello.zgen.json"), "a no-op rebuild ran zgen again:\n\(again.output)")
        let main = directory.appendingPathComponent("Sources/Greetings/main.swift")
        let source = try String(contentsOf: main, encoding: .utf8)
        try write(source + "// touched by PluginIntegrationTests\n", to: main)
        let touched = try Self.build(directory)
        try write(source, to: main)
        #expect(touched.status == 0, "\(touched.output)")
        #expect(touched.output.contains("Compiling Greetings"), "\(touched.output)")
        #expect(!touched.output.contains("zgen hello.zgen.json"), "editing main.swift ran zgen again:\n\(touched.output)")

        let binary = Paths.scratch.appendingPathComponent("debug/\(Self.target)")
        let run = try runTool(binary, [], in: directory, timeout: 60)
        #expect(run.status == 0, "\(run.output)")
        let printed = run.output.split(separator: "\n").filter { $0.hasPrefix("Hello from zgen") }
        #expect(printed == ["Hello from zgen, Ada!", "Hello from zgen, Grace!", "Hello from zgen, Barbara!"], "\(run.output)")
    }

    @Test("a schema error fails the build at the schema's file:line:column")
    func brokenSchemaFailsTheBuild() throws {
        let (directory, files) = try Self.prepareExample()
        let schema = try #require(files.first { $0.path == Self.schemaPath })
        let schemaURL = directory.appendingPathComponent(Self.schemaPath)
        defer { try? write(schema.contents, to: schemaURL) }

        // Misspell the first socket type; the diagnostic must point at that value.
        let broken = schema.contents.replacingOccurrences(of: #""socket": "PUSH""#, with: #""socket": "PUSSH""#)
        #expect(broken != schema.contents)
        try write(broken, to: schemaURL)
        let lines = broken.split(separator: "\n", omittingEmptySubsequences: false)
        let line = try #require(lines.firstIndex { $0.contains("PUSSH") }) + 1
        let column = try #require(lines[line - 1].range(of: #""PUSSH""#)).lowerBound.utf16Offset(in: lines[line - 1]) + 1

        let result = try Self.build(directory)
        #expect(result.status != 0, "the build succeeded with a broken schema:\n\(result.output)")
        let expected = "\(schemaURL.path):\(line):\(column): error:"
        #expect(result.output.contains(expected), "expected `\(expected)` in:\n\(result.output)")
    }

    @Test("two schemas that would generate the same file in one target fail the build before zgen runs")
    func clashingOutputNames() throws {
        let (directory, files) = try Self.prepareExample()
        let schema = try #require(files.first { $0.path == Self.schemaPath })
        let second = directory.appendingPathComponent("Sources/Greetings/more/hello.zgen.json")
        defer { try? FileManager.default.removeItem(at: second.deletingLastPathComponent()) }
        try write(schema.contents, to: second)

        let result = try Self.build(directory)
        #expect(result.status != 0, "\(result.output)")
        #expect(result.output.contains("generates Hello.swift, which hello.zgen.json also generates"), "\(result.output)")
    }

    @Test("zgen-generate writes Generated/, --check passes when fresh and fails with a diff when stale, orphans go")
    func generateCommandAndDriftCheck() throws {
        let (directory, files) = try Self.prepareExample()
        let schema = try #require(files.first { $0.path == Self.schemaPath })
        let fileManager = FileManager.default
        let schemas = directory.appendingPathComponent("Schemas")
        let generated = directory.appendingPathComponent("Generated")
        defer {
            try? fileManager.removeItem(at: schemas)
            try? fileManager.removeItem(at: generated)
        }
        try? fileManager.removeItem(at: generated)
        try write(schema.contents, to: schemas.appendingPathComponent("hello_world.json"))
        func command(_ arguments: String...) throws -> ToolResult {
            try swift(
                ["package", "--scratch-path", Paths.scratch.path, "--allow-writing-to-package-directory", "zgen-generate"]
                    + arguments,
                in: directory
            )
        }

        let output = generated.appendingPathComponent("HelloWorld.swift")
        let generate = try command()
        #expect(generate.status == 0, "\(generate.output)")
        let text = try String(contentsOf: output, encoding: .utf8)
        let header = text.prefix { $0 != "\n" }
        #expect(header.hasPrefix("// Generated by zgen ") && header.hasSuffix(" from hello_world.json. Do not edit."), "\(header)")

        let fresh = try command("--check")
        #expect(fresh.status == 0, "--check failed on a fresh Generated/:\n\(fresh.output)")

        // A schema edited without regenerating: --check fails with a diff and writes nothing.
        try write(schema.contents.replacingOccurrences(of: "A line to print.", with: "A line to show."), to: schemas.appendingPathComponent("hello_world.json"))
        let stale = try command("--check")
        #expect(stale.status != 0, "--check passed on a stale Generated/:\n\(stale.output)")
        #expect(stale.output.contains("Generated/HelloWorld.swift"), "\(stale.output)")
        #expect(stale.output.contains("+") && stale.output.contains("A line to show."), "no diff in:\n\(stale.output)")
        #expect(try String(contentsOf: output, encoding: .utf8) == text, "--check changed Generated/")

        // --breaking-against a git revision, in a scratch repository of the package.
        func git(_ arguments: String...) throws -> ToolResult {
            try runTool(URL(fileURLWithPath: "/usr/bin/env"), ["git", "-c", "user.name=zgen tests", "-c", "user.email=tests@zgen.invalid"] + arguments,
                        in: directory, timeout: 60)
        }
        try? fileManager.removeItem(at: directory.appendingPathComponent(".git"))
        defer { try? fileManager.removeItem(at: directory.appendingPathComponent(".git")) }
        #expect(try git("init", "-q").status == 0)
        #expect(try git("add", "Schemas").status == 0)
        #expect(try git("commit", "-q", "-m", "the deployed schema").status == 0)
        let same = try command("--breaking-against", "HEAD")
        #expect(same.status == 0, "\(same.output)")
        #expect(same.output.contains("zgen-generate --breaking-against HEAD: no breaking change (1 schema(s))"), "\(same.output)")
        let edited = try String(contentsOf: schemas.appendingPathComponent("hello_world.json"), encoding: .utf8)
        try write(edited.replacingOccurrences(of: #""type": "string""#, with: #""type": "bytes""#), to: schemas.appendingPathComponent("hello_world.json"))
        let broken = try command("--breaking-against", "HEAD")
        #expect(broken.status != 0, "\(broken.output)")
        #expect(broken.output.contains("Schemas/hello_world.json:") && broken.output.contains("changed from"), "\(broken.output)")
        try write(edited, to: schemas.appendingPathComponent("hello_world.json"))

        // The schema gone: --check reports the orphan, a real run removes it.
        try fileManager.removeItem(at: schemas.appendingPathComponent("hello_world.json"))
        let orphan = try command("--check")
        #expect(orphan.status != 0, "\(orphan.output)")
        #expect(orphan.output.contains("+++ /dev/null"), "\(orphan.output)")
        #expect(fileManager.fileExists(atPath: output.path))
        let clean = try command()
        #expect(clean.status == 0, "\(clean.output)")
        #expect(!fileManager.fileExists(atPath: output.path))
    }
}
