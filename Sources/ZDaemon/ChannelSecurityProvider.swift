import Logging

/// Secures the sockets of the channels whose spec asks for transport security
/// (``ChannelSpec/security`` other than `.none`).
///
/// The core knows only that a channel is secured; the mechanism, its keys and its peer policy
/// live in the provider set as ``DaemonConfiguration/security``. `ZDaemonSecurity`'s
/// `SecurityConfiguration` is the CURVE provider. Without a provider a secured channel is a
/// start-up error: never a silently plaintext channel.
public protocol ChannelSecurityProvider: Sendable {
    /// Checks, when the daemon is created, that `channel` can be secured (the mechanism is
    /// available, the keys and policy it needs are there); throws the start-up error otherwise.
    func check(_ channel: ChannelSpec, daemon: String) throws

    /// Called once per channel, when its socket is first opened and before it binds or
    /// connects: registers whatever must outlive one socket (an authentication handler, say).
    /// The session is kept across reopens of the channel's socket and closed at shutdown.
    func openSession(for channel: ChannelSpec, daemon: String, context: ZMQContext, logger: Logger) throws
        -> any ChannelSecuritySession
}

/// What a ``ChannelSecurityProvider`` keeps for one channel while its daemon runs.
public protocol ChannelSecuritySession: AnyObject {
    /// Secures a freshly created socket of the channel, before it binds or connects.
    func secure(_ socket: Socket) throws
    /// Releases what ``ChannelSecurityProvider/openSession(for:daemon:context:logger:)``
    /// registered. Called once, at shutdown or when opening the daemon failed.
    func close()
}

/// A secured channel whose daemon has no security material (or a provider that lacks some):
/// keys, a client policy. A start-up error naming the daemon, channel and configuration key.
public struct SecurityConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is missing, naming the daemon, channel and configuration key.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
