/// A JSON reader that keeps the line and column of every key and value (Foundation's
/// JSONDecoder forgets them). Strict RFC 8259; nesting is limited so no input can exhaust the stack.
public enum JSONReader {
    /// The deepest nesting of arrays and objects accepted.
    public static let maximumDepth = 128

    /// A syntax error with its position.
    public struct SyntaxError: Error, Sendable, Hashable {
        /// What is wrong.
        public var message: String
        /// Where.
        public var location: SourceLocation
    }

    /// Parses UTF-8 JSON text into a positioned node.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> Node {
        var parser = Parser(bytes: bytes)
        return try parser.parseDocument()
    }

    /// Parses JSON text into a positioned node.
    public static func parse(_ text: String) throws(SyntaxError) -> Node {
        try parse(Array(text.utf8))
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var line = 1
        var column = 1
        var depth = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        var location: SourceLocation { SourceLocation(line: line, column: column) }

        func fail(_ message: String) -> SyntaxError {
            SyntaxError(message: message, location: location)
        }

        mutating func advance() {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\n") {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"): advance()
                default: return
                }
            }
        }

        func describeCurrent() -> String {
            guard index < bytes.count else { return "end of file" }
            let byte = bytes[index]
            if byte >= 0x21 && byte < 0x7F { return "`\(Character(Unicode.Scalar(byte)))`" }
            return "character 0x\(String(byte, radix: 16, uppercase: true))"
        }

        mutating func parseDocument() throws(SyntaxError) -> Node {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3 }
            skipWhitespace()
            if index == bytes.count { throw fail("empty file: expected a JSON object") }
            let node = try parseValue()
            skipWhitespace()
            if index < bytes.count { throw fail("unexpected \(describeCurrent()) after the end of the JSON value") }
            return node
        }

        mutating func parseValue() throws(SyntaxError) -> Node {
            guard index < bytes.count else { throw fail("unexpected end of file: expected a value") }
            let start = location
            switch bytes[index] {
            case UInt8(ascii: "{"): return try parseObject()
            case UInt8(ascii: "["): return try parseArray()
            case UInt8(ascii: "\""): return Node(.string(try parseString()), at: start)
            case UInt8(ascii: "t"): try literal("true"); return Node(.bool(true), at: start)
            case UInt8(ascii: "f"): try literal("false"); return Node(.bool(false), at: start)
            case UInt8(ascii: "n"): try literal("null"); return Node(.null, at: start)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return Node(.number(try parseNumber()), at: start)
            default: throw fail("unexpected \(describeCurrent()): expected a value")
            }
        }

        mutating func literal(_ word: String) throws(SyntaxError) {
            let start = location
            for byte in word.utf8 {
                guard index < bytes.count, bytes[index] == byte else {
                    throw SyntaxError(message: "invalid literal: expected `\(word)`", location: start)
                }
                advance()
            }
        }

        mutating func enter() throws(SyntaxError) {
            depth += 1
            if depth > JSONReader.maximumDepth {
                throw fail("nesting deeper than \(JSONReader.maximumDepth) levels")
            }
        }

        mutating func parseObject() throws(SyntaxError) -> Node {
            let start = location
            try enter()
            advance()  // {
            var members: [Node.Member] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                advance()
                depth -= 1
                return Node(.object(members), at: start)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count else { throw fail("unexpected end of file: expected a key (object opened at \(start))") }
                guard bytes[index] == UInt8(ascii: "\"") else {
                    throw fail("unexpected \(describeCurrent()): expected a double-quoted key")
                }
                let keyLocation = location
                let key = try parseString()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else {
                    throw fail("unexpected \(describeCurrent()): expected `:` after the key")
                }
                advance()
                skipWhitespace()
                let value = try parseValue()
                members.append(Node.Member(key: key, keyLocation: keyLocation, value: value))
                skipWhitespace()
                guard index < bytes.count else { throw fail("unexpected end of file: expected `,` or `}` (object opened at \(start))") }
                if bytes[index] == UInt8(ascii: ",") {
                    advance()
                    skipWhitespace()
                    if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                        throw fail("trailing comma before `}`")
                    }
                    continue
                }
                if bytes[index] == UInt8(ascii: "}") {
                    advance()
                    depth -= 1
                    return Node(.object(members), at: start)
                }
                throw fail("unexpected \(describeCurrent()): expected `,` or `}`")
            }
        }

        mutating func parseArray() throws(SyntaxError) -> Node {
            let start = location
            try enter()
            advance()  // [
            var items: [Node] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                advance()
                depth -= 1
                return Node(.array(items), at: start)
            }
            while true {
                skipWhitespace()
                items.append(try parseValue())
                skipWhitespace()
                guard index < bytes.count else { throw fail("unexpected end of file: expected `,` or `]` (array opened at \(start))") }
                if bytes[index] == UInt8(ascii: ",") {
                    advance()
                    skipWhitespace()
                    if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                        throw fail("trailing comma before `]`")
                    }
                    continue
                }
                if bytes[index] == UInt8(ascii: "]") {
                    advance()
                    depth -= 1
                    return Node(.array(items), at: start)
                }
                throw fail("unexpected \(describeCurrent()): expected `,` or `]`")
            }
        }

        mutating func parseString() throws(SyntaxError) -> String {
            let start = location
            advance()  // opening quote
            var scalars = String.UnicodeScalarView()
            var run = [UInt8]()
            func flush(_ run: inout [UInt8], into scalars: inout String.UnicodeScalarView) {
                if !run.isEmpty {
                    scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars)
                    run.removeAll(keepingCapacity: true)
                }
            }
            while true {
                guard index < bytes.count else {
                    throw SyntaxError(message: "unterminated string", location: start)
                }
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    advance()
                    flush(&run, into: &scalars)
                    return String(scalars)
                case UInt8(ascii: "\\"):
                    flush(&run, into: &scalars)
                    let escapeLocation = location
                    advance()
                    guard index < bytes.count else { throw SyntaxError(message: "unterminated string", location: start) }
                    let escaped = bytes[index]
                    advance()
                    switch escaped {
                    case UInt8(ascii: "\""): scalars.append("\"")
                    case UInt8(ascii: "\\"): scalars.append("\\")
                    case UInt8(ascii: "/"): scalars.append("/")
                    case UInt8(ascii: "b"): scalars.append("\u{08}")
                    case UInt8(ascii: "f"): scalars.append("\u{0C}")
                    case UInt8(ascii: "n"): scalars.append("\n")
                    case UInt8(ascii: "r"): scalars.append("\r")
                    case UInt8(ascii: "t"): scalars.append("\t")
                    case UInt8(ascii: "u"):
                        let high = try hex4(escapeLocation)
                        if (0xD800..<0xDC00).contains(high) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw SyntaxError(message: "unpaired UTF-16 surrogate in \\u escape", location: escapeLocation)
                            }
                            advance(); advance()
                            let low = try hex4(escapeLocation)
                            guard (0xDC00..<0xE000).contains(low) else {
                                throw SyntaxError(message: "unpaired UTF-16 surrogate in \\u escape", location: escapeLocation)
                            }
                            scalars.append(Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!)
                        } else if let scalar = Unicode.Scalar(high) {
                            scalars.append(scalar)
                        } else {
                            throw SyntaxError(message: "unpaired UTF-16 surrogate in \\u escape", location: escapeLocation)
                        }
                    default:
                        throw SyntaxError(message: "invalid escape sequence in string", location: escapeLocation)
                    }
                default:
                    if byte < 0x20 {
                        throw fail(byte == UInt8(ascii: "\n") ? "unterminated string (a string cannot span lines)" : "control character in string must be escaped")
                    }
                    run.append(byte)
                    advance()
                }
            }
        }

        mutating func hex4(_ escapeLocation: SourceLocation) throws(SyntaxError) -> UInt32 {
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard index < bytes.count else { throw SyntaxError(message: "invalid \\u escape", location: escapeLocation) }
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw SyntaxError(message: "invalid \\u escape", location: escapeLocation)
                }
                value = value * 16 + digit
                advance()
            }
            return value
        }

        mutating func parseNumber() throws(SyntaxError) -> String {
            let start = index
            let startLocation = location
            func isDigit(_ index: Int) -> Bool {
                index < bytes.count && bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9")
            }
            let invalid = SyntaxError(message: "invalid number", location: startLocation)
            if bytes[index] == UInt8(ascii: "-") { advance() }
            guard isDigit(index) else { throw invalid }
            if bytes[index] == UInt8(ascii: "0") {
                advance()
                if isDigit(index) { throw SyntaxError(message: "invalid number: leading zero", location: startLocation) }
            } else {
                while isDigit(index) { advance() }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                advance()
                guard isDigit(index) else { throw invalid }
                while isDigit(index) { advance() }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                advance()
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { advance() }
                guard isDigit(index) else { throw invalid }
                while isDigit(index) { advance() }
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
    }
}
