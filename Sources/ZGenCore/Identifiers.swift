/// Turning schema names into safe Swift identifiers.
enum Identifiers {
    /// Swift keywords: an identifier equal to one of these is written in backticks.
    static let keywords: Set<String> = [
        "associatedtype", "borrowing", "class", "consuming", "deinit", "enum", "extension", "fileprivate", "func",
        "import", "init", "inout", "internal", "let", "nonisolated", "open", "operator", "package", "private",
        "precedencegroup", "protocol", "public", "rethrows", "static", "struct", "subscript", "typealias", "var",
        "break", "case", "catch", "continue", "default", "defer", "do", "else", "fallthrough", "for", "guard",
        "if", "in", "repeat", "return", "throw", "switch", "where", "while", "as", "Any", "await", "false", "is",
        "nil", "self", "Self", "super", "throws", "true", "try", "_",
    ]

    /// `job-queue` → `jobQueue`, `HTTPStatus` → `httpStatus`, `9lives` → `_9lives`, `self` → `self_`;
    /// empty if no letters/digits.
    static func lowerCamelCase(_ name: String) -> String {
        let upper = OutputNaming.upperCamelCase(name)
        guard !upper.isEmpty else { return "" }
        var scalars = Array(upper.unicodeScalars)
        // Lower-case the leading run of capitals, keeping the last one if a lower-case letter follows it.
        var index = 0
        while index < scalars.count, ("A"..."Z").contains(scalars[index]) {
            let nextIsLower = index + 1 < scalars.count && ("a"..."z").contains(scalars[index + 1])
            if index > 0 && nextIsLower { break }
            scalars[index] = Unicode.Scalar(scalars[index].value + 32)!
            index += 1
        }
        var result = String(String.UnicodeScalarView(scalars))
        if let first = result.unicodeScalars.first, ("0"..."9").contains(first) { result = "_" + result }
        // A parameter named `self` would hide `self` in the generated initialiser, and a property
        // named `encodeFrames` would clash with the generated method.
        if result == "self" || result == "encodeFrames" { result += "_" }
        return result
    }

    /// `job-queue` → `JobQueue`; a leading digit gets `_`.
    static func upperCamelCase(_ name: String) -> String {
        var result = OutputNaming.upperCamelCase(name)
        if let first = result.unicodeScalars.first, ("0"..."9").contains(first) { result = "_" + result }
        return result
    }

    /// The identifier as it must be written in source: backticked if it is a keyword.
    static func escaped(_ identifier: String) -> String {
        keywords.contains(identifier) ? "`\(identifier)`" : identifier
    }

    /// Whether `text` is a plain Swift identifier (ASCII letters, digits, `_`; not starting with a digit).
    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// Whether `text` looks like a Swift type (identifiers, `.`, generic and collection brackets, optionals).
    static func isTypeExpression(_ text: String) -> Bool {
        guard !text.isEmpty, let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        var depth = 0
        for scalar in text.unicodeScalars {
            switch scalar {
            case "<", "[", "(": depth += 1
            case ">", "]", ")":
                depth -= 1
                if depth < 0 { return false }
            case ".", ",", ":", " ", "?", "_": break
            default:
                if !(("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)) { return false }
            }
        }
        return depth == 0
    }
}

/// Escapes text for a Swift string literal.
func swiftStringLiteral(_ text: String) -> String {
    var result = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": result += "\\\""
        case "\\": result += "\\\\"
        case "\n": result += "\\n"
        case "\r": result += "\\r"
        case "\t": result += "\\t"
        case "\0": result += "\\0"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
    }
    return result + "\""
}
