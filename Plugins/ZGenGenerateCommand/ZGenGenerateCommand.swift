import Foundation
import PackagePlugin

/// `swift package --allow-writing-to-package-directory zgen-generate [--check | --breaking-against REV] [schema...]`
///
/// Regenerates the checked-in `Generated/` from `Schemas/` (all schemas, or the ones named):
/// `Schemas/my_zmq.json` → `Generated/MyZmq.swift`. Files zgen wrote earlier whose schema is
/// gone are removed. With `--check` nothing is written: the command prints a unified diff of
/// everything that is stale and fails, which is how CI catches a schema edited without
/// regenerating. With `--breaking-against <git revision or old schema file>` nothing is written
/// either: each schema is compared with its older version (`zgen --breaking-against`), and the
/// command fails if a change breaks peers still running that version.
@main
struct ZGenGenerateCommand: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        var extractor = ArgumentExtractor(arguments)
        let check = extractor.extractFlag(named: "check") > 0
        let against = extractor.extractOption(named: "breaking-against").last
        let schemasDirectory = extractor.extractOption(named: "schemas").last ?? "Schemas"
        let generatedDirectory = extractor.extractOption(named: "generated").last ?? "Generated"
        let requested = extractor.remainingArguments
        if let unknown = requested.first(where: { $0.hasPrefix("-") }) {
            throw PluginFailure("zgen-generate: unknown option '\(unknown)' "
                + "(usage: zgen-generate [--check | --breaking-against <git-revision or old schema>] [--schemas <dir>] [--generated <dir>] [schema...])")
        }

        let root = context.package.directoryURL
        let fileManager = FileManager.default
        let schemaFiles = (try? fileManager.contentsOfDirectory(atPath: root.appendingPathComponent(schemasDirectory).path)) ?? []
        let plan: GeneratePlan
        do {
            plan = try GeneratePlan(
                schemaFiles: schemaFiles.filter { name in
                    var isDirectory: ObjCBool = false
                    let path = root.appendingPathComponent(schemasDirectory).appendingPathComponent(name).path
                    return fileManager.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
                },
                generatedFiles: Self.generatedFiles(in: root, under: generatedDirectory),
                requested: requested,
                schemasDirectory: schemasDirectory,
                generatedDirectory: generatedDirectory
            )
        } catch {
            throw PluginFailure("zgen-generate: \(error.message)")
        }
        if plan.jobs.isEmpty && plan.orphans.isEmpty {
            print("zgen-generate: no schemas in \(schemasDirectory)/")
            return
        }

        let zgen = try context.tool(named: "zgen").url
        if let against {
            try Self.checkBreaking(plan.jobs, against: against, zgen: zgen, root: root, work: context.pluginWorkDirectoryURL)
            return
        }
        var failures: [String] = []
        for job in plan.jobs {
            var arguments = [job.schema, "-o", job.outputDirectory]
            if check {
                arguments.insert("--check", at: 0)
            } else {
                try fileManager.createDirectory(
                    at: root.appendingPathComponent(job.outputDirectory), withIntermediateDirectories: true)
            }
            let (status, output) = try Self.run(zgen, arguments, in: root)
            if !output.isEmpty { print(output, terminator: output.hasSuffix("\n") ? "" : "\n") }
            if status != 0 {
                failures.append(check ? "\(job.output) is stale (or \(job.schema) has errors)" : "zgen failed on \(job.schema)")
            }
        }

        for orphan in plan.orphans {
            let url = root.appendingPathComponent(orphan)
            if check {
                print(Self.deletionDiff(of: orphan, contents: (try? String(contentsOf: url, encoding: .utf8)) ?? ""), terminator: "")
                failures.append("\(orphan) has no schema in \(schemasDirectory)/ any more")
            } else {
                try fileManager.removeItem(at: url)
                print("zgen-generate: removed \(orphan) (its schema is gone)")
                // A subfolder left empty goes too; the generated folder itself stays (it may be a target).
                let directory = url.deletingLastPathComponent()
                if directory.standardizedFileURL.path != root.appendingPathComponent(generatedDirectory).standardizedFileURL.path,
                    (try? fileManager.contentsOfDirectory(atPath: directory.path))?.isEmpty == true
                {
                    try? fileManager.removeItem(at: directory)
                }
            }
        }

        if !failures.isEmpty {
            for failure in failures { Diagnostics.error("zgen-generate: \(failure)") }
            throw PluginFailure(check
                ? "zgen-generate --check: \(generatedDirectory)/ is stale; run `swift package --allow-writing-to-package-directory zgen-generate`"
                : "zgen-generate: \(failures.count) schema(s) failed")
        }
        if check { print("zgen-generate --check: \(generatedDirectory)/ is up to date (\(plan.jobs.count) schema(s))") }
    }

    /// `--breaking-against`: runs `zgen <schema> --breaking-against <old>` for each schema. The old
    /// version is the file `against` (one schema only), or the schema at git revision `against`
    /// (`git show <rev>:./<schema>`, git from PATH); a schema that did not exist then is new and
    /// has nothing to break.
    static func checkBreaking(_ jobs: [GeneratePlan.Job], against: String, zgen: URL, root: URL, work: URL) throws {
        let fileManager = FileManager.default
        let asFile = root.appendingPathComponent(against)
        var failures: [String] = []
        for job in jobs {
            let old: String
            if fileManager.fileExists(atPath: asFile.path) {
                guard jobs.count == 1 else {
                    throw PluginFailure("zgen-generate: --breaking-against \(against) is a file, so name the one schema to compare with it")
                }
                old = asFile.path
            } else {
                let (status, output) = try run(URL(fileURLWithPath: "/usr/bin/env"), ["git", "show", "\(against):./\(job.schema)"], in: root, mergingErrors: false)
                if status != 0 {
                    if output.contains("does not exist") || output.contains("exists on disk, but not in") {
                        print("zgen-generate: \(job.schema) is new since \(against): nothing to compare")
                        continue
                    }
                    throw PluginFailure("zgen-generate: git show \(against):./\(job.schema) failed: \(output.trimmingCharacters(in: .whitespacesAndNewlines))"
                        + " (in a shallow clone, `git fetch origin <base>` first)")
                }
                let name = (job.schema as NSString).lastPathComponent
                let copy = work.appendingPathComponent("breaking-against").appendingPathComponent(name)
                try fileManager.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(output.utf8).write(to: copy)
                old = copy.path
            }
            let (status, output) = try run(zgen, [job.schema, "--breaking-against", old], in: root)
            if !output.isEmpty { print(output, terminator: output.hasSuffix("\n") ? "" : "\n") }
            if status != 0 { failures.append("\(job.schema) breaks peers running the version at \(against)") }
        }
        if !failures.isEmpty {
            for failure in failures { Diagnostics.error("zgen-generate: \(failure)") }
            throw PluginFailure("zgen-generate --breaking-against \(against): \(failures.count) schema(s) with breaking changes")
        }
        print("zgen-generate --breaking-against \(against): no breaking change (\(jobs.count) schema(s))")
    }

    /// The Swift files under `directory` whose first line is zgen's header, relative to `root`.
    static func generatedFiles(in root: URL, under directory: String) -> [String] {
        let base = root.appendingPathComponent(directory)
        guard let enumerator = FileManager.default.enumerator(atPath: base.path) else { return [] }
        var result: [String] = []
        while let relative = enumerator.nextObject() as? String {
            guard relative.hasSuffix(".swift"),
                let handle = FileHandle(forReadingAtPath: base.appendingPathComponent(relative).path)
            else { continue }
            let head = (try? handle.read(upToCount: GeneratePlan.generatedHeaderPrefix.utf8.count)) ?? Data()
            try? handle.close()
            if head.elementsEqual(GeneratePlan.generatedHeaderPrefix.utf8) {
                result.append("\(directory)/\(relative)")
            }
        }
        return result.sorted()
    }

    /// Runs a tool in `directory`, returning its status and its standard output and error, merged
    /// (with `mergingErrors: false`: the output on success, the errors on failure).
    static func run(_ tool: URL, _ arguments: [String], in directory: URL, mergingErrors: Bool = true) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        let errors = mergingErrors ? pipe : Pipe()
        process.standardOutput = pipe
        process.standardError = errors
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        let errorData = mergingErrors ? Data() : errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let status = process.terminationStatus
        return (status, String(decoding: status == 0 || mergingErrors ? data : errorData, as: UTF8.self))
    }

    /// A unified diff that deletes a whole file, for `--check` on an orphaned output.
    static func deletionDiff(of path: String, contents: String) -> String {
        var lines = contents.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        var diff = "--- a/\(path)\n+++ /dev/null\n@@ -1,\(lines.count) +0,0 @@\n"
        for line in lines { diff += "-\(line)\n" }
        return diff
    }
}

/// An error whose text is the whole message `swift package` shows.
struct PluginFailure: Error, CustomStringConvertible {
    /// What went wrong.
    var description: String

    init(_ description: String) { self.description = description }
}
