/// A position in a schema file: 1-based line and column (the column counts UTF-8 bytes, as the
/// Swift compiler's diagnostics do).
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The 1-based line.
    public var line: Int
    /// The 1-based column, in UTF-8 bytes.
    public var column: Int

    /// Creates a location.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The start of a file.
    public static let start = SourceLocation(line: 1, column: 1)

    /// Orders locations by line, then column.
    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    /// `line:column`.
    public var description: String { "\(line):\(column)" }
}

/// One problem found in a schema, printed in the compiler's format so editors and CI annotate it.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    /// How bad a diagnostic is.
    public enum Severity: String, Sendable, Hashable {
        /// The schema cannot be generated.
        case error
        /// The schema generates, but probably does not do what was meant.
        case warning
        /// Extra context attached to an error or warning.
        case note
    }

    /// How bad it is.
    public var severity: Severity
    /// What is wrong, in one line.
    public var message: String
    /// Where it is.
    public var location: SourceLocation
    /// Notes that point at related places (for example the first of two clashing names).
    public var notes: [Diagnostic]

    /// Creates a diagnostic.
    public init(_ severity: Severity, _ message: String, at location: SourceLocation, notes: [Diagnostic] = []) {
        self.severity = severity
        self.message = message
        self.location = location
        self.notes = notes
    }

    /// The diagnostic and its notes as `path:line:column: severity: message` lines.
    public func formatted(path: String) -> String {
        var lines = ["\(path):\(location.line):\(location.column): \(severity.rawValue): \(message)"]
        for note in notes {
            lines.append(note.formatted(path: path))
        }
        return lines.joined(separator: "\n")
    }

    /// `line:column: severity: message` (without a path).
    public var description: String { formatted(path: "<schema>") }
}

/// Collects diagnostics while reading and validating; nothing stops at the first problem.
struct DiagnosticCollector {
    private(set) var diagnostics: [Diagnostic] = []

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    mutating func error(_ message: String, at location: SourceLocation, notes: [Diagnostic] = []) {
        diagnostics.append(Diagnostic(.error, message, at: location, notes: notes))
    }

    mutating func warning(_ message: String, at location: SourceLocation, notes: [Diagnostic] = []) {
        diagnostics.append(Diagnostic(.warning, message, at: location, notes: notes))
    }

    mutating func append(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
    }

    /// Diagnostics in source order (stable for equal locations), notes kept with their parent.
    var sorted: [Diagnostic] {
        diagnostics.enumerated().sorted { a, b in
            a.element.location != b.element.location ? a.element.location < b.element.location : a.offset < b.offset
        }.map(\.element)
    }
}

/// "did you mean" support: the closest candidate within a small edit distance.
enum Suggestion {
    static func closest(to word: String, in candidates: [String]) -> String? {
        // Bounded work: a schema with thousands of names gets no suggestion rather than a stall.
        guard candidates.count <= 1000 else { return nil }
        var best: (String, Int)?
        let lowered = word.lowercased()
        for candidate in candidates {
            let distance = editDistance(lowered, candidate.lowercased())
            let limit = max(1, min(3, candidate.count / 3 + 1))
            if distance <= limit, best == nil || distance < best!.1 {
                best = (candidate, distance)
            }
        }
        return best?.0
    }

    static func didYouMean(_ word: String, in candidates: [String]) -> String {
        if let match = closest(to: word, in: candidates) {
            return "; did you mean `\(match)`?"
        }
        return ""
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars.prefix(64)), b = Array(b.unicodeScalars.prefix(64))
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
