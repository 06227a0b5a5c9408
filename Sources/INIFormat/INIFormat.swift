/// A small INI reader that remembers where everything came from.
///
/// Both zgen (schemas in INI form) and the runtime (daemon configuration in Python's
/// `fileConfig` style) read INI. They need the same dialect and, for diagnostics, the line and
/// column of every section, key and value, which is why this is a module of its own.
///
/// The dialect, close to Python's `configparser`:
/// - `[section]` headers; `key = value` or `key: value` (the first `=` or `:` separates);
/// - keys are case-sensitive and keep their spelling;
/// - a line whose first non-blank character is `#` or `;` is a comment; after a value, `#` or `;`
///   preceded by whitespace and outside double quotes starts a comment too;
/// - an indented line continues the previous value (joined with a newline);
/// - a value wholly inside double quotes is taken literally (`subscribe = ""` is one empty string);
/// - repeated sections and keys are kept in order: consumers decide what a repeat means.

/// A place in a source text: 1-based line, and 1-based column counted in UTF-8 bytes, as the
/// Swift compiler counts them in its diagnostics.
public struct SourcePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The 1-based line number.
    public var line: Int
    /// The 1-based column, in UTF-8 bytes from the start of the line.
    public var column: Int

    /// Creates a position from a 1-based line and column.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// Orders positions as they occur in the text.
    public static func < (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    /// `line:column`, as diagnostics print it.
    public var description: String { "\(line):\(column)" }
}

/// One item of a comma-separated value, see ``INIEntry/listItems()``.
public struct INIListItem: Sendable, Hashable {
    /// The item's text: trimmed, and without its quotes if it was quoted.
    public var value: String
    /// Where the item starts (its opening quote, if quoted).
    public var position: SourcePosition
    /// Whether the item was written in double quotes (so an empty quoted item is a real, empty value).
    public var isQuoted: Bool

    /// Creates a list item.
    public init(value: String, position: SourcePosition, isQuoted: Bool) {
        self.value = value
        self.position = position
        self.isQuoted = isQuoted
    }
}

/// A `key = value` line (plus any continuation lines) of an INI section.
public struct INIEntry: Sendable, Hashable {
    /// The key, exactly as written.
    public var key: String
    /// Where the key starts.
    public var keyPosition: SourcePosition
    /// The value: trimmed, inline comment removed, and unquoted when the whole value was in double quotes.
    public var value: String
    /// The value as written (after trimming and comment removal, quotes kept).
    public var rawValue: String
    /// Where the value starts; for an empty value, just after the separator.
    public var valuePosition: SourcePosition
    /// Whether the whole value was written inside double quotes.
    public var isQuoted: Bool
    /// Where each line of `rawValue` starts, for values continued over several lines.
    var segmentStarts: [SourcePosition]

    /// Creates an entry whose value fits on one line.
    public init(key: String, keyPosition: SourcePosition, rawValue: String, valuePosition: SourcePosition) {
        self.key = key
        self.keyPosition = keyPosition
        self.rawValue = rawValue
        self.valuePosition = valuePosition
        self.segmentStarts = [valuePosition]
        (self.value, self.isQuoted) = INIEntry.unquote(rawValue)
    }

    mutating func appendContinuation(_ text: String, at position: SourcePosition) {
        rawValue += "\n" + text
        segmentStarts.append(position)
        (value, isQuoted) = INIEntry.unquote(rawValue)
    }

    static func unquote(_ raw: String) -> (String, Bool) {
        let bytes = Array(raw.utf8)
        if bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\""),
            !bytes.dropFirst().dropLast().contains(UInt8(ascii: "\""))
        {
            return (String(decoding: bytes.dropFirst().dropLast(), as: UTF8.self), true)
        }
        return (raw, false)
    }

    /// The value split at commas outside double quotes, each item trimmed and unquoted.
    ///
    /// An empty value is an empty list; `""` is a list of one empty item.
    public func listItems() -> [INIListItem] {
        let bytes = Array(rawValue.utf8)
        if bytes.allSatisfy(INIParser.isBlank) { return [] }
        var items: [INIListItem] = []
        var start = 0
        var inQuotes = false
        var index = 0
        func flush(_ end: Int) {
            var lo = start
            var hi = end
            while lo < hi, INIParser.isBlank(bytes[lo]) || bytes[lo] == 10 { lo += 1 }
            while hi > lo, INIParser.isBlank(bytes[hi - 1]) || bytes[hi - 1] == 10 { hi -= 1 }
            let text = String(decoding: bytes[lo..<hi], as: UTF8.self)
            let (value, quoted) = INIEntry.unquote(text)
            items.append(INIListItem(value: value, position: position(ofOffset: lo, in: bytes), isQuoted: quoted))
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if byte == UInt8(ascii: ","), !inQuotes {
                flush(index)
                start = index + 1
            }
            index += 1
        }
        flush(bytes.count)
        return items
    }

    private func position(ofOffset offset: Int, in bytes: [UInt8]) -> SourcePosition {
        var segment = 0
        var segmentStart = 0
        for index in 0..<min(offset, bytes.count) where bytes[index] == 10 {
            segment += 1
            segmentStart = index + 1
        }
        let base = segmentStarts[min(segment, segmentStarts.count - 1)]
        return SourcePosition(line: base.line, column: base.column + offset - segmentStart)
    }
}

/// A `[name]` section and its entries, in source order.
public struct INISection: Sendable, Hashable {
    /// The section's name, between the brackets, trimmed.
    public var name: String
    /// Where the `[` is.
    public var position: SourcePosition
    /// The entries in source order, repeats included.
    public var entries: [INIEntry]

    /// Creates a section.
    public init(name: String, position: SourcePosition, entries: [INIEntry] = []) {
        self.name = name
        self.position = position
        self.entries = entries
    }

    /// The last entry with this key (a later line overrides an earlier one), or nil.
    public subscript(key: String) -> INIEntry? {
        entries.last { $0.key == key }
    }
}

/// A parsed INI text: its sections in source order.
public struct INIDocument: Sendable, Hashable {
    /// The sections in source order, repeats included.
    public var sections: [INISection]

    /// Creates a document.
    public init(sections: [INISection]) {
        self.sections = sections
    }

    /// The first section with this name, or nil.
    public func section(_ name: String) -> INISection? {
        sections.first { $0.name == name }
    }
}

/// A line the reader cannot understand, and where it is.
public struct INISyntaxError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What is wrong, e.g. `expected 'key = value'`.
    public var message: String
    /// Where it is.
    public var position: SourcePosition

    /// Creates an error.
    public init(message: String, position: SourcePosition) {
        self.message = message
        self.position = position
    }

    /// `line:column: message`.
    public var description: String { "\(position): \(message)" }
}

/// Reads INI text; see the module's documentation for the dialect.
public enum INIParser {
    static func isBlank(_ byte: UInt8) -> Bool { byte == 32 || byte == 9 || byte == 13 }

    /// Parses `text`, stopping at the first line it cannot understand.
    public static func parse(_ text: String) throws(INISyntaxError) -> INIDocument {
        var sections: [INISection] = []
        var lineNumber = 0
        // Whether the previous line was an entry (or its continuation), so an indented line continues it.
        var continuing = false
        var bytes = Array(text.utf8)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // BOM
        var lineStart = 0
        while lineStart <= bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != 10 { lineEnd += 1 }
            lineNumber += 1
            let line = bytes[lineStart..<lineEnd]
            defer { lineStart = lineEnd + 1 }
            guard let first = line.firstIndex(where: { !isBlank($0) }) else {
                continuing = false
                continue
            }
            let column = first - lineStart + 1
            let here = SourcePosition(line: lineNumber, column: column)
            let lead = line[first]
            if lead == UInt8(ascii: "#") || lead == UInt8(ascii: ";") { continue }
            let content = stripComment(line[first...])
            if column > 1, continuing, !sections.isEmpty, !sections[sections.count - 1].entries.isEmpty {
                let last = sections[sections.count - 1].entries.count - 1
                sections[sections.count - 1].entries[last].appendContinuation(
                    String(decoding: content, as: UTF8.self), at: here)
                continue
            }
            if lead == UInt8(ascii: "[") {
                guard content.last == UInt8(ascii: "]") else {
                    throw INISyntaxError(message: "section header is missing its closing ']'", position: here)
                }
                let name = trim(content.dropFirst().dropLast())
                guard !name.isEmpty else {
                    throw INISyntaxError(message: "section header has no name", position: here)
                }
                sections.append(INISection(name: String(decoding: name, as: UTF8.self), position: here))
                continuing = false
                continue
            }
            guard let separator = content.firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: ":") })
            else {
                let shown = String(decoding: content.prefix(60), as: UTF8.self)
                throw INISyntaxError(message: "expected 'key = value' or a '[section]', found '\(shown)'", position: here)
            }
            let key = trim(content[..<separator])
            guard !key.isEmpty else {
                throw INISyntaxError(message: "missing key before '\(Character(UnicodeScalar(content[separator])))'", position: here)
            }
            guard !sections.isEmpty else {
                throw INISyntaxError(
                    message: "key '\(String(decoding: key, as: UTF8.self))' comes before any [section]", position: here)
            }
            var valueStart = separator + 1
            while valueStart < content.endIndex, isBlank(content[valueStart]) { valueStart += 1 }
            let value = trim(content[valueStart...])
            let entry = INIEntry(
                key: String(decoding: key, as: UTF8.self),
                keyPosition: here,
                rawValue: String(decoding: value, as: UTF8.self),
                valuePosition: SourcePosition(line: lineNumber, column: valueStart - lineStart + 1))
            sections[sections.count - 1].entries.append(entry)
            continuing = true
        }
        return INIDocument(sections: sections)
    }

    private static func trim(_ slice: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var lo = slice.startIndex
        var hi = slice.endIndex
        while lo < hi, isBlank(slice[lo]) { lo += 1 }
        while hi > lo, isBlank(slice[hi - 1]) { hi -= 1 }
        return slice[lo..<hi]
    }

    /// Removes an inline comment: `#` or `;` after whitespace, outside double quotes.
    private static func stripComment(_ slice: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var inQuotes = false
        var index = slice.startIndex
        while index < slice.endIndex {
            let byte = slice[index]
            if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if !inQuotes, byte == UInt8(ascii: "#") || byte == UInt8(ascii: ";"),
                index > slice.startIndex, isBlank(slice[index - 1])
            {
                return trim(slice[slice.startIndex..<index])
            }
            index += 1
        }
        return trim(slice)
    }
}
