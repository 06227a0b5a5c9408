import INIFormat

/// One Swift file zgen produces.
public struct GeneratedFile: Sendable, Hashable {
    /// The file name (no directory), from `OutputNaming.outputFileName(forSchemaAt:)`.
    public var fileName: String
    /// The Swift source.
    public var contents: String

    /// Creates a generated file.
    public init(fileName: String, contents: String) {
        self.fileName = fileName
        self.contents = contents
    }
}

/// What reading, validating and rendering one schema produced.
public struct GenerationResult: Sendable {
    /// The schema's path as given (used in diagnostics).
    public var schemaPath: String
    /// The model, if the schema is valid.
    public var schema: Schema?
    /// The Swift file, if the schema is valid.
    public var file: GeneratedFile?
    /// Every problem found, in source order, notes attached to their parent.
    public var diagnostics: [Diagnostic]

    /// Whether any diagnostic is an error (the schema produced no output).
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// The diagnostics as compiler-style lines, `path:line:column: severity: message`.
    public var formattedDiagnostics: [String] {
        diagnostics.map { $0.formatted(path: schemaPath) }
    }
}

/// The generator: read → validate → model → render. The CLI and the plugins call this.
public enum ZGen {
    /// zgen's version, printed by `zgen --version`.
    public static let version = "0.2.0"

    /// The largest schema file zgen reads.
    public static let maximumInputSize = 16 * 1024 * 1024

    /// The form of a schema: `.ini` is INI, `.json` is JSON; otherwise (`.zgen`) a file whose first
    /// non-blank character is `{` is JSON, anything else INI.
    public static func form(forSchemaAt path: String, contents: [UInt8]) -> SchemaForm {
        let lower = path.lowercased()
        if lower.hasSuffix(".ini") { return .ini }
        if lower.hasSuffix(".json") { return .json }
        let first = contents.first { ![0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains($0) }
        return first == UInt8(ascii: "{") ? .json : .ini
    }

    /// The last path component, which the generated header names.
    public static func fileName(of path: String) -> String {
        guard let slash = path.lastIndex(where: { $0 == "/" || $0 == "\\" }) else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Reads and validates a schema without rendering it. Never throws: problems are diagnostics.
    public static func parse(schemaAt path: String, contents: [UInt8]) -> (schema: Schema?, diagnostics: [Diagnostic]) {
        var diagnostics = DiagnosticCollector()
        guard contents.count <= maximumInputSize else {
            diagnostics.error("file is larger than \(maximumInputSize / 1024 / 1024) MiB; this is not a schema", at: .start)
            return (nil, diagnostics.sorted)
        }
        if let bad = firstInvalidUTF8(contents) {
            diagnostics.error("file is not valid UTF-8", at: bad)
            return (nil, diagnostics.sorted)
        }
        let form = form(forSchemaAt: path, contents: contents)
        let root: Node
        var hasHeader = true
        switch form {
        case .json:
            do {
                root = try JSONReader.parse(contents)
            } catch {
                diagnostics.error(error.message, at: error.location)
                return (nil, diagnostics.sorted)
            }
        case .ini:
            let text = String(decoding: contents, as: UTF8.self)
            let document: INIDocument
            do {
                document = try INIParser.parse(text)
            } catch {
                diagnostics.error(error.message, at: SourceLocation(line: error.position.line, column: error.position.column))
                return (nil, diagnostics.sorted)
            }
            var reader = INISchemaReader(diagnostics: diagnostics)
            (root, hasHeader) = reader.read(document)
            diagnostics = reader.diagnostics
        }
        var validator = Validator(form: form, diagnostics: diagnostics)
        let schema = validator.validate(root: root, hasHeader: hasHeader)
        return (validator.diagnostics.hasErrors ? nil : schema, validator.diagnostics.sorted)
    }

    /// Renders a valid schema as the Swift file for `path` (its name and namespace come from the path alone).
    public static func render(_ schema: Schema, schemaAt path: String, accessLevel: AccessLevel = .public) -> GeneratedFile {
        var renderer = Renderer(
            schema: schema, namespace: OutputNaming.namespace(forSchemaAt: path), sourceFileName: fileName(of: path), access: accessLevel)
        return GeneratedFile(fileName: OutputNaming.outputFileName(forSchemaAt: path), contents: renderer.render())
    }

    /// The whole pipeline for one schema: the entry point of the CLI and the plugins.
    ///
    /// - Parameters:
    ///   - path: the schema's path; it names the output, the namespace and the diagnostics.
    ///   - contents: the schema file's bytes.
    ///   - accessLevel: the access level of the generated declarations.
    public static func generate(schemaAt path: String, contents: [UInt8], accessLevel: AccessLevel = .public) -> GenerationResult {
        let (schema, diagnostics) = parse(schemaAt: path, contents: contents)
        let file = schema.map { render($0, schemaAt: path, accessLevel: accessLevel) }
        return GenerationResult(schemaPath: path, schema: schema, file: file, diagnostics: diagnostics)
    }

    /// Where the first byte that is not valid UTF-8 is, or nil if all of it is.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> SourceLocation? {
        var line = 1
        var column = 1
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            let length: Int
            switch byte {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = 2
            case 0xE0...0xEF: length = 3
            case 0xF0...0xF4: length = 4
            default: return SourceLocation(line: line, column: column)
            }
            guard index + length <= bytes.count else { return SourceLocation(line: line, column: column) }
            if length > 1 {
                for offset in 1..<length where bytes[index + offset] & 0xC0 != 0x80 {
                    return SourceLocation(line: line, column: column)
                }
                let second = bytes[index + 1]
                if (byte == 0xE0 && second < 0xA0) || (byte == 0xED && second > 0x9F) || (byte == 0xF0 && second < 0x90) || (byte == 0xF4 && second > 0x8F) {
                    return SourceLocation(line: line, column: column)
                }
            }
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else {
                column += length
            }
            index += length
        }
        return nil
    }
}
