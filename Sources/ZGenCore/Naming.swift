/// The Swift names zgen derives for types, handlers and sends, decided here: the validator checks
/// them for clashes, the model keeps them, the renderer writes them. (Identifier spelling —
/// camel case, keyword escaping — is `Identifiers`; a schema's namespace is `OutputNaming`.)
enum Naming {
    /// The message struct or daemon class for a schema name (`job-queue` → `JobQueue`); empty
    /// when the name has no letters or digits.
    static func typeName(_ schemaName: String) -> String { Identifiers.upperCamelCase(schemaName) }

    /// The part a channel's name contributes to its method names (`job-queue` → `JobQueue`).
    static func channelPart(_ channelName: String) -> String { OutputNaming.upperCamelCase(channelName) }

    /// The protocol a daemon's handlers conform to: `<Daemon>Handlers`.
    static func handlersProtocol(_ daemonTypeName: String) -> String { daemonTypeName + "Handlers" }

    /// A receiving channel's handler method unless the schema names one (`handler`): `on<Channel>`.
    static func handlerMethod(_ channelPart: String) -> String { "on" + channelPart }

    /// A sending channel's send method: `send<Channel>`.
    static func sendMethod(_ channelPart: String) -> String { "send" + channelPart }

    /// The start hook every handlers protocol has.
    static let startHook = "daemonDidStart"

    /// The socket-event hook every handlers protocol has (with a default).
    static let socketEventHook = "onSocketEvent"

    /// Method names of the handlers protocol that no channel's handler may take. (A handler named
    /// like the socket-event hook does not clash: its argument labels differ.)
    static let reservedHandlerNames: [String] = [startHook]

    /// Names a message or daemon type may not take: they would shadow names the generated code uses.
    static let reservedTypeNames: Set<String> = OutputNaming.reservedNamespaces
}
