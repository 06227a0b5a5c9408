import ArgumentParser
import Foundation
import ZGenCore

extension AccessLevel: ExpressibleByArgument {}
extension TopologyGraph.Format: ExpressibleByArgument {}

/// `zgen`: channel schemas (JSON or INI) in, typed Swift daemons out.
@main
struct ZGenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zgen",
        abstract: "Generate typed Swift daemons from ZeroMQ channel schemas (JSON or INI).",
        discussion: """
            Each schema becomes one Swift file named from the schema's file name alone
            (my_zmq.json -> MyZmq.swift) holding one namespace enum (MyZmq), so several
            schemas can share a module. A file is rewritten only when its content changes.

            Exit status: 0 success, 1 schema errors (or --check found stale output, or
            --breaking-against found a breaking change), 64 usage error.

            Examples:
              zgen Schemas/my_zmq.json -o Generated/
              zgen Schemas/*.json -o Generated/ --check
              zgen Schemas/my_zmq.ini --stdout
              zgen Schemas/my_zmq.json --print-outputs -o Generated/
              zgen Schemas/my_zmq.json -o Sources/App --access-level internal
              zgen Schemas/my_zmq.json --graph mermaid
              zgen Schemas/my_zmq.json --breaking-against old/my_zmq.json
            """,
        version: ZGen.version
    )

    @Argument(help: "Schema files (.json, .ini, .zgen).")
    var schemas: [String]

    @Option(name: [.short, .customLong("output")], help: "Directory to write the generated Swift files into.")
    var output: String?

    @Flag(help: "Write nothing; print a unified diff and exit 1 if the output directory is stale.")
    var check = false

    @Flag(help: "Print the generated Swift to standard output instead of writing files.")
    var stdout = false

    @Option(help: "Access level of the generated declarations: public, package or internal.")
    var accessLevel: AccessLevel = .public

    @Flag(help: "Print the paths of the files zgen would write (from the input paths only) and exit.")
    var printOutputs = false

    @Option(help: "Print the schema's topology as a Mermaid flowchart or a Graphviz digraph instead of generating (mermaid, dot).")
    var graph: TopologyGraph.Format?

    @Option(name: .customLong("breaking-against"), help: ArgumentHelp(
        "Write nothing: compare the schema with this older version of it (JSON or INI) and report each change that breaks peers still running the old one (errors, exit 1) or is risky (warnings).",
        valueName: "old-schema"))
    var breakingAgainst: String?

    mutating func validate() throws {
        if breakingAgainst != nil {
            guard schemas.count == 1 else { throw ValidationError("--breaking-against compares one schema with its older version.") }
            return  // needs no -o
        }
        if graph != nil { return }  // --graph needs no -o
        if !printOutputs && !stdout && output == nil {
            throw ValidationError("Missing -o <dir> (or --stdout, or --print-outputs).")
        }
        if check && output == nil {
            throw ValidationError("--check needs -o <dir> to compare against.")
        }
        if check && stdout {
            throw ValidationError("--check and --stdout cannot be combined.")
        }
        var seen: [String: String] = [:]
        for schema in schemas {
            let name = OutputNaming.outputFileName(forSchemaAt: schema)
            if let other = seen[name] {
                throw ValidationError("\(other) and \(schema) would both write \(name); rename one of them.")
            }
            seen[name] = schema
        }
    }

    func outputPath(_ fileName: String) -> String {
        guard let output else { return fileName }
        return output.hasSuffix("/") ? output + fileName : output + "/" + fileName
    }

    mutating func run() throws {
        if let old = breakingAgainst {
            guard let newData = FileManager.default.contents(atPath: schemas[0]) else {
                printError("\(schemas[0]): error: cannot read the file")
                throw ExitCode(1)
            }
            guard let oldData = FileManager.default.contents(atPath: old) else {
                printError("\(old): error: cannot read the file")
                throw ExitCode(1)
            }
            let result = CompatibilityCheck.check(newSchemaAt: schemas[0], contents: [UInt8](newData), oldSchemaAt: old, contents: [UInt8](oldData))
            for diagnostic in result.old { printError(diagnostic.formatted(path: old)) }
            for diagnostic in result.new { printError(diagnostic.formatted(path: schemas[0])) }
            if (result.old + result.new).contains(where: { $0.severity == .error }) { throw ExitCode(1) }
            return
        }
        if let graph {
            var failed = false
            for schema in schemas {
                guard let data = FileManager.default.contents(atPath: schema) else {
                    printError("\(schema): error: cannot read the file")
                    failed = true
                    continue
                }
                let result = ZGen.generate(schemaAt: schema, contents: [UInt8](data), accessLevel: accessLevel)
                for line in result.formattedDiagnostics { printError(line) }
                guard !result.hasErrors, let model = result.schema else {
                    failed = true
                    continue
                }
                print(TopologyGraph.render(model, format: graph), terminator: "")
            }
            if failed { throw ExitCode(1) }
            return
        }
        if printOutputs {
            for schema in schemas {
                print(outputPath(OutputNaming.outputFileName(forSchemaAt: schema)))
            }
            return
        }
        var results: [GenerationResult] = []
        var failed = false
        for schema in schemas {
            guard let data = FileManager.default.contents(atPath: schema) else {
                printError("\(schema): error: cannot read the file")
                failed = true
                continue
            }
            let result = ZGen.generate(schemaAt: schema, contents: [UInt8](data), accessLevel: accessLevel)
            if !result.diagnostics.isEmpty { printError(result.formattedDiagnostics.joined(separator: "\n")) }
            if result.hasErrors { failed = true }
            results.append(result)
        }
        if failed { throw ExitCode(1) }

        let files = results.compactMap(\.file)
        if stdout {
            for file in files { print(file.contents, terminator: "") }
            return
        }
        var stale = false
        for file in files {
            let path = outputPath(file.fileName)
            let existing = FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
            if existing == file.contents { continue }
            // A file from another zgen release that generates the same code is fresh.
            if check, let existing, ZGen.isSameGeneratedCode(existing, file.contents) { continue }
            if check {
                stale = true
                let diff = UnifiedDiff.diff(
                    old: existing ?? "", new: file.contents, oldName: existing == nil ? "/dev/null" : path, newName: path)
                print(diff, terminator: "")
                continue
            }
            do {
                try FileManager.default.createDirectory(atPath: output!, withIntermediateDirectories: true)
                try Data(file.contents.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                printError("\(path): error: cannot write: \(error.localizedDescription)")
                throw ExitCode(1)
            }
        }
        if stale {
            printError("error: \(output!) is stale; run zgen without --check to regenerate it")
            throw ExitCode(1)
        }
    }

    func printError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
