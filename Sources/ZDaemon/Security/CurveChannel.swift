import Logging

extension SecurityConfiguration {
    /// The ZAP domain the runtime gives a CURVE channel's socket: `<Daemon>.<channel>`.
    public static func zapDomain(daemon: String, channel: String) -> String { "\(daemon).\(channel)" }
}

/// What the daemon does to a CURVE channel's socket before binding or connecting it.
enum CurveChannel {
    /// The start-up error of a CURVE channel when the daemon has no security configuration.
    static func unconfigured(daemon: String, channel: String, isServer: Bool) -> String {
        "\(daemon) channel \(channel) is a CURVE channel but no keys are configured (set curve_secret_key_file and the "
            + "\(isServer ? "client policy" : "server's public key") in [run:security] or [run:\(daemon).\(channel)])"
    }

    /// Checks CURVE support and the channel's keys, registers the server's client policy with
    /// the context's ZAP handler (once: `registration` keeps it across socket reopens), then
    /// sets the socket's CURVE options. Any missing piece is an error: never plaintext.
    static func secure(
        _ socket: Socket, daemon: String, channel: String, isServer: Bool, security: SecurityConfiguration?,
        registration: inout ZAPRegistration?, logger: Logger
    ) throws {
        let subject = "\(daemon) channel \(channel)"
        try CurveSupport.require(for: subject)
        guard let security else {
            throw SecurityConfigurationError(unconfigured(daemon: daemon, channel: channel, isServer: isServer))
        }
        let (role, policy) = try security.role(forChannel: channel, daemon: daemon, isServer: isServer)
        let domain = SecurityConfiguration.zapDomain(daemon: daemon, channel: channel)
        if let policy, registration == nil {
            // Before the bind: libzmq asks ZAP only if a handler is there at handshake time.
            registration = try ZAPHandler.register(domain: domain, policy: policy, context: socket.context, logger: logger)
            let who = policy.allowAnyClient
                ? "any CURVE client" : "\(policy.allowedKeys.count) client key\(policy.allowedKeys.count == 1 ? "" : "s")"
            var addresses = ""
            if !policy.allowIPs.isEmpty { addresses += ", addresses \(policy.allowIPs.joined(separator: ", "))" }
            if !policy.denyIPs.isEmpty { addresses += ", denying \(policy.denyIPs.joined(separator: ", "))" }
            logger.info("\(daemon): channel \(channel): CURVE server, allowing \(who)\(addresses)")
        }
        try socket.applyCurve(role, zapDomain: domain)
        if case .client(let pair, let serverKey) = role {
            logger.debug("\(daemon): channel \(channel): CURVE client \(pair.publicKey.z85) of server \(serverKey.z85)")
        }
    }
}
