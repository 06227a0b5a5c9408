import ZGenVocabulary

/// The schema as plain values, independent of the form it was read from: a JSON schema and an INI
/// schema that say the same thing produce equal models, so their generated Swift is identical.
public struct Schema: Sendable, Hashable {
    /// The app name shared by the daemons (`my_zmq`).
    public var app: String
    /// Modules the generated file imports (for `json` frames' Swift types).
    public var imports: [String]
    /// What the app is, for the namespace's doc comment.
    public var description: String?
    /// Message types, in source order.
    public var messages: [Message]
    /// Daemons, in source order.
    public var daemons: [Daemon]

    /// Creates a schema.
    public init(app: String, imports: [String] = [], description: String? = nil, messages: [Message], daemons: [Daemon]) {
        self.app = app
        self.imports = imports
        self.description = description
        self.messages = messages
        self.daemons = daemons
    }

    /// The message with this schema name.
    public func message(named name: String) -> Message? {
        messages.first { $0.name == name }
    }

    /// Messages by schema name (the first of each name).
    public var messagesByName: [String: Message] {
        var result: [String: Message] = [:]
        for message in messages where result[message.name] == nil { result[message.name] = message }
        return result
    }
}

/// A multipart message type: one frame per property.
public struct Message: Sendable, Hashable {
    /// The name in the schema.
    public var name: String
    /// The Swift type name (the name made a safe UpperCamelCase identifier).
    public var typeName: String
    /// Doc comment text.
    public var description: String?
    /// Frames in wire order; only the last may be repeated.
    public var frames: [Frame]
    /// What a receiver does with frames after the declared ones (`extraFrames`): reject the
    /// message (format 1's default), or ignore them, so that senders may add trailing frames.
    public var extraFrames: ExtraFrames
    /// The message's name in an older schema (`renamedFrom`): the breaking-change check then
    /// matches it by that name (the wire carries no names, so a rename breaks nothing).
    public var renamedFrom: String?

    /// Creates a message.
    public init(name: String, typeName: String, description: String? = nil, frames: [Frame], extraFrames: ExtraFrames = .reject,
                renamedFrom: String? = nil) {
        self.name = name
        self.typeName = typeName
        self.description = description
        self.frames = frames
        self.extraFrames = extraFrames
        self.renamedFrom = renamedFrom
    }
}

/// A message's policy for frames after the declared ones (`extraFrames` in a schema).
public enum ExtraFrames: String, Sendable, Hashable, CaseIterable {
    /// A message with more frames is dropped as malformed (the default).
    case reject
    /// They are ignored: a newer sender may have added trailing frames.
    case ignore
}

/// A frame's default value (`default` in a schema): what a receiver fills in when a sender
/// that does not know the frame (an older schema's) leaves it out.
public enum FrameDefault: Sendable, Hashable {
    /// For a `string` frame.
    case string(String)
    /// For an integer frame.
    case integer(Int)
    /// For a `float` or `double` frame, as written (`0.5`).
    case number(String)
    /// For a `bool` frame.
    case bool(Bool)
}

/// How one frame is encoded.
public enum FrameType: String, Sendable, Hashable, CaseIterable {
    /// UTF-8 text.
    case string
    /// Raw bytes.
    case bytes
    /// One byte, 0 or 1.
    case bool
    /// Fixed-width big-endian integers.
    case int8, int16, int32, int64, uint8, uint16, uint32, uint64
    /// IEEE 754 big-endian, 4 bytes.
    case float
    /// IEEE 754 big-endian, 8 bytes.
    case double
    /// A Codable Swift type encoded as JSON (`swiftType`).
    case json

    /// The Swift type of the property (for `json`, the frame's `swiftType`).
    public var swiftType: String? {
        switch self {
        case .string: return "String"
        case .bytes: return "[UInt8]"
        case .bool: return "Bool"
        case .int8: return "Int8"
        case .int16: return "Int16"
        case .int32: return "Int32"
        case .int64: return "Int64"
        case .uint8: return "UInt8"
        case .uint16: return "UInt16"
        case .uint32: return "UInt32"
        case .uint64: return "UInt64"
        case .float: return "Float"
        case .double: return "Double"
        case .json: return nil
        }
    }
}

/// One frame of a message.
public struct Frame: Sendable, Hashable {
    /// The name in the schema.
    public var name: String
    /// The Swift property name (a safe lowerCamelCase identifier, backticked if a keyword).
    public var propertyName: String
    /// The encoding.
    public var type: FrameType
    /// For `json`: the Codable Swift type.
    public var swiftType: String?
    /// Whether this (last) frame repeats zero or more times.
    public var repeated: Bool
    /// Doc comment text.
    public var description: String?
    /// The value a receiver fills in when the frame is missing (a trailing frame added in a
    /// compatible change); `nil`: the frame is required.
    public var defaultValue: FrameDefault?
    /// The frame's name in an older schema (`renamedFrom`), for the breaking-change check.
    public var renamedFrom: String?

    /// Creates a frame.
    public init(name: String, propertyName: String, type: FrameType, swiftType: String? = nil, repeated: Bool = false, description: String? = nil,
                defaultValue: FrameDefault? = nil, renamedFrom: String? = nil) {
        self.name = name
        self.propertyName = propertyName
        self.type = type
        self.swiftType = swiftType
        self.repeated = repeated
        self.description = description
        self.defaultValue = defaultValue
        self.renamedFrom = renamedFrom
    }
}

/// A daemon: a named set of channels on one event loop.
public struct Daemon: Sendable, Hashable {
    /// The name in the schema.
    public var name: String
    /// The Swift type name of the generated daemon (a `TypedDaemon` struct).
    public var typeName: String
    /// The process title, e.g. `(my:server)`.
    public var title: String
    /// Doc comment text.
    public var description: String?
    /// How many processes of it an app runs (`instances`); nil when the schema does not say (one).
    public var instances: Int?
    /// Channels in source order (the runtime's channel index is the position here).
    public var channels: [Channel]

    /// Creates a daemon.
    public init(name: String, typeName: String, title: String, description: String? = nil, instances: Int? = nil,
                channels: [Channel]) {
        self.name = name
        self.typeName = typeName
        self.title = title
        self.description = description
        self.instances = instances
        self.channels = channels
    }
}

/// A channel: one socket of a daemon.
public struct Channel: Sendable, Hashable {
    /// The name in the schema (the runtime's channel name).
    public var name: String
    /// The name as an UpperCamelCase identifier part (`job-queue` → `JobQueue`), used in `on…` and `send…`.
    public var identifierPart: String
    /// The socket type.
    public var socket: SocketType
    /// Endpoints, in order.
    public var endpoints: [String]
    /// Bind (true) or connect (false).
    public var bind: Bool
    /// SUB/XSUB subscription prefixes.
    public var subscribe: [String]
    /// The message type sent (schema name), if the channel sends.
    public var send: String?
    /// The message type received (schema name), if the channel receives.
    public var recv: String?
    /// The receive handler's method name, if the channel receives.
    public var handler: String?
    /// The declared error message (schema name) a REQ/REP or request channel's server may answer with.
    public var error: String?
    /// A request channel: a DEALER that calls (any number of requests in flight, matched by a
    /// correlation id) or a ROUTER that serves them (`request`/`reply` in the schema).
    public var isRequestChannel = false
    /// The client property that streams what the channel receives (`jobMessages`), if the schema
    /// streams it (`"stream": true`); such a channel has no handler.
    public var stream: String?
    /// The handler takes the message's fields borrowed from libzmq's receive buffers (strings as
    /// `UTF8Span`, bytes as `Span<UInt8>`, the rest as values) instead of an owned message
    /// (`"borrow": true`): nothing is allocated or copied per message.
    public var borrow = false
    /// The send method's name, if the channel sends (`sendJob`; on a ROUTER `replyJob`). REP
    /// replies by returning from its handler, so it has none.
    public var sender: String?
    /// SNDHWM and RCVHWM, messages.
    public var hwm: Int
    /// The runtime's own bound on sends waiting for the socket, messages.
    public var queue: Int
    /// ZMQ_LINGER, ms.
    public var linger: Int?
    /// REQ reply timeout, ms.
    public var timeout: Int?
    /// The channel (of this daemon) whose backlog pauses receiving on this one.
    public var drainedBy: String?
    /// The channel (of this daemon) this one drains.
    public var drains: String?
    /// libzmq options.
    public var options: ChannelOptions
    /// Transport security (`none` or `curve`); the schema never names a key.
    public var security: ChannelSecurity
    /// CURVE only: whether this side is the CURVE server (`nil`: the binding side is).
    public var curveServer: Bool?
    /// Doc comment text.
    public var description: String?

    /// Creates a channel with the format's defaults.
    public init(name: String, identifierPart: String, socket: SocketType, endpoints: [String], bind: Bool = false) {
        self.name = name
        self.identifierPart = identifierPart
        self.socket = socket
        self.endpoints = endpoints
        self.bind = bind
        self.subscribe = []
        self.hwm = ChannelLimits.defaultHWM
        self.queue = ChannelLimits.defaultQueue
        self.options = ChannelOptions()
        self.security = .none
    }

    /// The channel's case in its daemon's `Channel` enum (`jobQueue`), unescaped.
    public var caseName: String { Naming.channelCase(name) }
}
