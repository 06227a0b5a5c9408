// Foundation-free planning for `swift package zgen-generate`, kept apart from the plugin entry
// point so the rules (which schemas, where outputs go, what is stale) read in one place.

/// What `zgen-generate` does for a package: which schema generates which file, and which
/// previously generated files have lost their schema.
struct GeneratePlan: Equatable {
    /// One schema and the file generated from it.
    struct Job: Equatable {
        /// The schema's path relative to the package (`Schemas/my_zmq.json`).
        var schema: String
        /// The directory zgen writes into, relative to the package (`Generated`).
        var outputDirectory: String
        /// The generated file, relative to the package (`Generated/MyZmq.swift`).
        var output: String
    }

    /// A problem with the request itself (an unknown schema name, two schemas for one output).
    struct Problem: Error, Equatable, CustomStringConvertible {
        /// What is wrong.
        var message: String

        var description: String { message }
    }

    /// The schemas to run zgen on, in path order.
    var jobs: [Job]
    /// Generated files (relative paths) whose schema is gone: removed, or reported by `--check`.
    var orphans: [String]

    /// Plans the work.
    ///
    /// - Parameters:
    ///   - schemaFiles: file names at the top of the schemas directory (`.json` and `.ini` are
    ///     schemas; anything else is ignored).
    ///   - generatedFiles: paths of the Swift files under the generated directory that zgen wrote
    ///     (relative to the package), found by their header.
    ///   - requested: schemas named on the command line (file name, path, or output name); empty
    ///     means all.
    ///   - schemasDirectory: where schemas live, relative to the package (`Schemas`).
    ///   - generatedDirectory: where outputs go, relative to the package (`Generated`): a schema
    ///     `my_zmq.json` generates `Generated/MyZmq.swift`. The folder is one target; each schema's
    ///     code lives in its own namespace enum, so the files never clash.
    init(
        schemaFiles: [String],
        generatedFiles: [String],
        requested: [String],
        schemasDirectory: String = "Schemas",
        generatedDirectory: String = "Generated"
    ) throws(Problem) {
        // Group schemas by the file they generate. A JSON schema and its INI twin (same name, same
        // model) generate the same file: the JSON one is generated, the twin is checked by tests.
        var byOutput: [String: [String]] = [:]
        for name in schemaFiles where Self.isSchemaFileName(name) {
            byOutput[OutputNaming.outputFileName(forSchemaAt: name), default: []].append(name)
        }
        var chosen: [String: String] = [:]  // output file name -> schema file name
        for (output, names) in byOutput {
            let json = names.filter { $0.lowercased().hasSuffix(".json") }.sorted()
            let candidates = json.isEmpty ? names.sorted() : json
            guard candidates.count == 1 else {
                throw Problem(
                    message: "schemas \(candidates.map { "\(schemasDirectory)/\($0)" }.joined(separator: " and ")) "
                        + "would both generate \(output); rename one of them")
            }
            chosen[output] = candidates[0]
        }

        var all: [Job] = []
        for (output, schema) in chosen {
            let directory = generatedDirectory
            all.append(Job(schema: "\(schemasDirectory)/\(schema)", outputDirectory: directory, output: "\(directory)/\(output)"))
        }
        all.sort { $0.schema < $1.schema }

        if requested.isEmpty {
            jobs = all
        } else {
            var selected: [Job] = []
            for request in requested {
                let name = Self.lastComponent(request)
                // A schema's file name or path, its INI twin's, or the output's name (`MyZmq.swift`, `MyZmq`).
                let match = all.first { job in
                    let output = Self.lastComponent(job.output)
                    return name == output || name + ".swift" == output || byOutput[output]?.contains(name) == true
                }
                guard let match else {
                    throw Problem(message: "no schema named '\(request)' in \(schemasDirectory)/ (have: "
                        + all.map { Self.lastComponent($0.schema) }.joined(separator: ", ") + ")")
                }
                if !selected.contains(match) { selected.append(match) }
            }
            jobs = selected
        }

        let expected = Set(all.map(\.output))
        orphans = generatedFiles.filter { !expected.contains($0) }.sorted()
    }

    /// Whether a file name at the top of the schemas directory is a schema.
    static func isSchemaFileName(_ name: String) -> Bool {
        let lower = name.lowercased()
        return !name.hasPrefix(".") && (lower.hasSuffix(".json") || lower.hasSuffix(".ini"))
    }

    /// The first line of every file zgen writes starts with this (`// Generated by zgen 0.2.0 from
    /// x.json. Do not edit.`; zgen 0.1 wrote no version, which this covers too).
    static let generatedHeaderPrefix = "// Generated by zgen "

    private static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}
