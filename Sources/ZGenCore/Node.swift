/// A positioned value read from a schema, in either form. The JSON reader produces it directly;
/// the INI reader builds the same shape from sections, so one validator serves both forms.
public struct Node: Sendable, Hashable {
    /// A key of an object with its position and value.
    public struct Member: Sendable, Hashable {
        /// The key.
        public var key: String
        /// Where the key starts.
        public var keyLocation: SourceLocation
        /// The value.
        public var value: Node

        /// Creates a member.
        public init(key: String, keyLocation: SourceLocation, value: Node) {
            self.key = key
            self.keyLocation = keyLocation
            self.value = value
        }
    }

    /// One item of an INI comma-separated list.
    public struct ListItem: Sendable, Hashable {
        /// The item's text (unquoted if it was double-quoted).
        public var text: String
        /// Where the item starts.
        public var location: SourceLocation
        /// Whether the item was double-quoted.
        public var isQuoted: Bool

        /// Creates an item.
        public init(text: String, location: SourceLocation, isQuoted: Bool) {
            self.text = text
            self.location = location
            self.isQuoted = isQuoted
        }
    }

    /// The kinds of values.
    public indirect enum Value: Sendable, Hashable {
        /// A JSON object, or an INI section made into one; members in source order, duplicates kept.
        case object([Member])
        /// A JSON array.
        case array([Node])
        /// A JSON string.
        case string(String)
        /// A JSON number, as written.
        case number(String)
        /// A JSON `true` or `false`.
        case bool(Bool)
        /// A JSON `null`.
        case null
        /// An INI value: untyped text, plus its comma-separated items for keys that take a list.
        case text(String, isQuoted: Bool, items: [ListItem])
    }

    /// The value.
    public var value: Value
    /// Where the value starts.
    public var location: SourceLocation

    /// Creates a node.
    public init(_ value: Value, at location: SourceLocation) {
        self.value = value
        self.location = location
    }

    /// The members of an object node, else nil.
    public var members: [Member]? {
        if case .object(let members) = value { return members }
        return nil
    }

    /// The member with this key (the first one), if this is an object.
    public subscript(key: String) -> Member? {
        members?.first { $0.key == key }
    }

    /// A short description of the value's kind, for diagnostics ("a string", "an object", ...).
    var kindDescription: String {
        switch value {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        case .text(let text, _, _): return "`\(text)`"
        }
    }
}
