import Foundation
import PackagePlugin

/// Generates Swift daemons from the zgen schemas among a target's files while the target builds.
///
/// Every file of the target whose name ends in `.zgen.json` or `.zgen.ini` gets one build command
/// that runs `zgen <schema> -o <plugin work directory>`. The output's name comes from the schema's
/// path alone (``OutputNaming/outputFileName(forSchemaAt:)``, the function `zgen --print-outputs`
/// uses), so the command's inputs and outputs are declared exactly: a rebuild with an unchanged
/// schema does not run zgen again, and zgen's `path:line:column: error:` diagnostics appear in the
/// build log as they are.
@main
struct ZGenBuildPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        guard let module = target.sourceModule else { return [] }
        let files = module.sourceFiles.map(\.url)
        return try ZGenBuildCommands.commands(
            moduleName: module.name,
            files: files,
            zgen: try context.tool(named: "zgen").url,
            workDirectory: context.pluginWorkDirectoryURL
        )
    }
}

/// The build-tool plugin's logic, apart from how the files are found.
enum ZGenBuildCommands {
    /// The file name endings that mark a schema among a target's files.
    static let schemaSuffixes = [".zgen.json", ".zgen.ini"]

    /// Whether a file of a target is a zgen schema.
    static func isSchema(_ url: URL) -> Bool {
        let name = url.lastPathComponent.lowercased()
        return schemaSuffixes.contains { name.hasSuffix($0) }
    }

    /// One build command per schema among `files`; throws when two files would produce (or a
    /// hand-written file already has) the same file name in the module.
    static func commands(moduleName: String, files: [URL], zgen: URL, workDirectory: URL) throws -> [Command] {
        let schemas = files.filter(isSchema).sorted { $0.path < $1.path }
        guard !schemas.isEmpty else { return [] }

        // Swift requires file names to be unique within a module, generated ones included.
        var claimed: [String: URL] = [:]
        for file in files where !isSchema(file) && file.pathExtension == "swift" {
            claimed[file.lastPathComponent] = file
        }
        var clashes: [String] = []
        for schema in schemas {
            let output = OutputNaming.outputFileName(forSchemaAt: schema.path)
            if let other = claimed[output] {
                let message = "zgen: \(schema.lastPathComponent) generates \(output), which \(other.lastPathComponent) "
                    + (isSchema(other) ? "also generates" : "already is")
                    + " in module \(moduleName); rename one of them"
                Diagnostics.error(message, file: schema.path, line: 1)
                clashes.append("\(schema.path): \(message)")
            } else {
                claimed[output] = schema
            }
        }
        guard clashes.isEmpty else { throw ZGenPluginError(message: clashes.joined(separator: "\n")) }

        return schemas.map { schema in
            let output = OutputNaming.outputFileName(forSchemaAt: schema.path)
            return .buildCommand(
                displayName: "zgen \(schema.lastPathComponent) → \(output)",
                executable: zgen,
                arguments: [schema.path, "-o", workDirectory.path],
                inputFiles: [schema],
                outputFiles: [workDirectory.appendingPathComponent(output)]
            )
        }
    }
}

/// A failure the plugin reports before any command runs.
struct ZGenPluginError: Error, CustomStringConvertible {
    /// What went wrong.
    var message: String

    var description: String { message }
}
