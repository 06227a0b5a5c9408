import Logging
import ZDaemon

extension SecurityConfiguration {
    /// The ZAP domain the runtime gives a CURVE channel's socket: `<Daemon>.<channel>`.
    public static func zapDomain(daemon: String, channel: String) -> String { "\(daemon).\(channel)" }
}

/// The CURVE provider: a daemon whose configuration's `security` is a `SecurityConfiguration`
/// gets its `"security": "curve"` channels encrypted and, on the server side, authorised by the
/// context's ZAP handler.
extension SecurityConfiguration: ChannelSecurityProvider {
    /// CURVE support, and the keys and client policy the channel's role needs.
    public func check(_ channel: ChannelSpec, daemon: String) throws {
        try CurveChannel.check(channel, daemon: daemon)
        _ = try role(forChannel: channel.name, daemon: daemon, isServer: channel.isCurveServer)
    }

    /// Registers a server's client policy with the context's ZAP handler (before the bind:
    /// libzmq asks ZAP only if a handler is there at handshake time).
    public func openSession(for channel: ChannelSpec, daemon: String, context: ZMQContext, logger: Logger) throws
        -> any ChannelSecuritySession
    {
        let session = CurveChannel.Session(daemon: daemon, channel: channel.name, isServer: channel.isCurveServer,
                                           security: self, logger: logger)
        try session.register(context: context)
        return session
    }
}

/// What the daemon does to a CURVE channel's socket before binding or connecting it.
enum CurveChannel {
    /// The start-up error of a CURVE channel when the daemon has no security configuration.
    static func unconfigured(daemon: String, channel: String, isServer: Bool) -> String {
        ChannelSecurity.curve.unconfiguredMessage(daemon: daemon, channel: channel, isServer: isServer)
    }

    /// Only CURVE channels reach this provider, and only with CURVE support in libzmq.
    static func check(_ channel: ChannelSpec, daemon: String) throws {
        guard channel.security == .curve else {
            throw SecurityConfigurationError(
                "\(daemon) channel \(channel.name): security '\(channel.security.rawValue)' is not CURVE, which is all this provider secures")
        }
        try CurveSupport.require(for: "\(daemon) channel \(channel.name)")
    }

    /// One CURVE channel of a running daemon: its ZAP registration (a server's) outlives the
    /// socket, which a REQ timeout may reopen.
    final class Session: ChannelSecuritySession {
        let daemon: String
        let channel: String
        let isServer: Bool
        let security: SecurityConfiguration
        let logger: Logger
        var registration: ZAPRegistration?

        init(daemon: String, channel: String, isServer: Bool, security: SecurityConfiguration, logger: Logger) {
            self.daemon = daemon
            self.channel = channel
            self.isServer = isServer
            self.security = security
            self.logger = logger
        }

        /// Registers the server's policy on the context's ZAP handler, once.
        func register(context: ZMQContext) throws {
            try CurveChannel.register(daemon: daemon, channel: channel, isServer: isServer, security: security,
                                      context: context, registration: &registration, logger: logger)
        }

        func secure(_ socket: Socket) throws {
            try CurveChannel.secure(socket, daemon: daemon, channel: channel, isServer: isServer, security: security,
                                    registration: &registration, logger: logger)
        }

        func close() {
            registration?.cancel()
            registration = nil
        }
    }

    /// Checks CURVE support and the channel's keys and registers the server's client policy
    /// with the context's ZAP handler, unless `registration` already holds it.
    static func register(
        daemon: String, channel: String, isServer: Bool, security: SecurityConfiguration?, context: ZMQContext,
        registration: inout ZAPRegistration?, logger: Logger
    ) throws {
        try CurveSupport.require(for: "\(daemon) channel \(channel)")
        guard let security else {
            throw SecurityConfigurationError(unconfigured(daemon: daemon, channel: channel, isServer: isServer))
        }
        let (_, policy) = try security.role(forChannel: channel, daemon: daemon, isServer: isServer)
        guard let policy, registration == nil else { return }
        let domain = SecurityConfiguration.zapDomain(daemon: daemon, channel: channel)
        registration = try ZAPHandler.register(domain: domain, policy: policy, context: context, logger: logger)
        let who = policy.allowAnyClient
            ? "any CURVE client" : "\(policy.allowedKeys.count) client key\(policy.allowedKeys.count == 1 ? "" : "s")"
        var addresses = ""
        if !policy.allowIPs.isEmpty { addresses += ", addresses \(policy.allowIPs.joined(separator: ", "))" }
        if !policy.denyIPs.isEmpty { addresses += ", denying \(policy.denyIPs.joined(separator: ", "))" }
        logger.info("\(daemon): channel \(channel): CURVE server, allowing \(who)\(addresses)")
    }

    /// Checks CURVE support and the channel's keys, registers the server's client policy with
    /// the context's ZAP handler (once: `registration` keeps it across socket reopens), then
    /// sets the socket's CURVE options. Any missing piece is an error: never plaintext.
    static func secure(
        _ socket: Socket, daemon: String, channel: String, isServer: Bool, security: SecurityConfiguration?,
        registration: inout ZAPRegistration?, logger: Logger
    ) throws {
        try register(daemon: daemon, channel: channel, isServer: isServer, security: security, context: socket.context,
                     registration: &registration, logger: logger)
        // `register` has thrown unless `security` is there and has the keys: never plaintext.
        guard let security else {
            throw SecurityConfigurationError(unconfigured(daemon: daemon, channel: channel, isServer: isServer))
        }
        let (role, _) = try security.role(forChannel: channel, daemon: daemon, isServer: isServer)
        let domain = SecurityConfiguration.zapDomain(daemon: daemon, channel: channel)
        try socket.applyCurve(role, zapDomain: domain)
        if case .client(let pair, let serverKey) = role {
            logger.debug("\(daemon): channel \(channel): CURVE client \(pair.publicKey.z85) of server \(serverKey.z85)")
        }
    }
}

extension SecurityConfiguration {
    /// Makes the client policies this configuration gives `daemon`'s CURVE server channels (its
    /// allow-lists, allowed and denied addresses) the ones its running ZAP handler applies, as a
    /// reload does (the process layer calls it on SIGHUP). Each next handshake follows them: a
    /// revoked key is refused on its next connection. Connections made already stay (CURVE
    /// authenticates a peer once, at its handshake); to drop them, restart the daemon. Call on the
    /// daemon's loop. Returns what it changed, a line per channel; throws when a channel lost what
    /// it needs (its policy then stays as it was).
    public func applyClientPolicies(to daemon: Daemon) throws -> [String] {
        guard let context = daemon.context, let handler = ZAPHandler.shared(for: context) else { return [] }
        var changes: [(String, ZAPPolicy, String)] = []
        for index in daemon.spec.channels.indices {
            let channel = daemon.channelSpec(index)
            guard channel.security == .curve, channel.isCurveServer else { continue }
            let (_, policy) = try role(forChannel: channel.name, daemon: daemon.spec.name, isServer: true)
            guard let policy else { continue }
            let who = policy.allowAnyClient ? "any CURVE client" : "\(policy.allowedKeys.count) client key\(policy.allowedKeys.count == 1 ? "" : "s")"
            changes.append((Self.zapDomain(daemon: daemon.spec.name, channel: channel.name), policy,
                            "\(daemon.spec.name): channel \(channel.name): CURVE server now allows \(who)"))
        }
        // All or nothing: a channel that fails leaves every policy as it was.
        for (domain, policy, _) in changes { handler.setPolicy(policy, domain: domain) }
        return changes.map(\.2)
    }
}
