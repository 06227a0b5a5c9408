import ZGenVocabulary

/// The Swift names zgen derives for types, handlers and sends, decided here: the validator checks
/// them for clashes, the model keeps them, the renderer writes them. (Identifier spelling —
/// camel case, keyword escaping — is `Identifiers`; a schema's namespace is `OutputNaming`.)
enum Naming {
    /// The message or daemon type for a schema name (`job-queue` → `JobQueue`); empty
    /// when the name has no letters or digits.
    static func typeName(_ schemaName: String) -> String { Identifiers.upperCamelCase(schemaName) }

    /// The part a channel's name contributes to its method names (`job-queue` → `JobQueue`).
    static func channelPart(_ channelName: String) -> String { OutputNaming.upperCamelCase(channelName) }

    /// The protocol a daemon's handlers conform to: `<Daemon>Handlers`.
    static func handlersProtocol(_ daemonTypeName: String) -> String { daemonTypeName + "Handlers" }

    /// A receiving channel's handler method unless the schema names one (`handler`): `on<Channel>`.
    static func handlerMethod(_ channelPart: String) -> String { "on" + channelPart }

    /// A sending channel's send method unless the schema names one (`sender`): `send<Channel>`,
    /// and on a ROUTER, which answers the peer a message came from, `reply<Channel>`.
    static func sendMethod(_ channelPart: String, socket: SocketType) -> String {
        (socket == .router ? "reply" : "send") + channelPart
    }

    /// A request channel's call (DEALER) unless the schema names one (`sender`): `request<Channel>`.
    static func requestMethod(_ channelPart: String) -> String { "request" + channelPart }

    /// A streamed channel's property on the daemon's client (`DaemonClient`): `<channel>Messages`
    /// (`job` → `jobMessages`), an `InboundMessages` of its received type.
    static func streamProperty(_ channelName: String) -> String { Identifiers.lowerCamelCase(channelName) + "Messages" }

    /// A channel's case in its daemon's `Channel` enum (`job-queue` → `jobQueue`); names the
    /// enum already has (`init`, `rawValue`, …) get a trailing `_`.
    static func channelCase(_ channelName: String) -> String {
        let name = Identifiers.lowerCamelCase(channelName)
        return reservedChannelCases.contains(name) ? name + "_" : name
    }

    /// Members every `RawRepresentable`, `CaseIterable` enum has.
    static let reservedChannelCases: Set<String> = ["init", "rawValue", "allCases", "hashValue", "hash"]

    /// Members a generated daemon has from the runtime (`TypedDaemon`) or declares itself: no
    /// send method may take one of these names.
    static let reservedDaemonMembers: Set<String> = [
        "Channel", "daemon", "spec", "run", "terminate", "isTerminating", "loop", "logger", "handle", "override",
        "onStart", "onWillTerminate", "onSocketEvent", "scheduleTask", "scheduleRepeatedTask", "execute",
        "onMessage", "onRequest", "onRouted", "onReply", "counters", "channelSpec", "boundEndpoints",
        "queuedSends", "isReceivePaused", "liveConnections", "socketEventCounts", "request", "onCall", "streamMessages",
    ]

    /// Names a message or daemon type may not take: they would shadow names the generated code uses.
    static let reservedTypeNames: Set<String> = OutputNaming.reservedNamespaces
}
