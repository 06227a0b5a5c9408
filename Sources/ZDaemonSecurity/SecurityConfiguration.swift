import ZDaemon

/// The CURVE material of one channel (or the defaults of all channels of a daemon): the
/// channel's own key pair, the server's public key (clients) and who may connect (servers).
/// `nil` fields fall back to the daemon's defaults.
public struct CurveChannelSecurity: Sendable, Equatable {
    /// This side's key pair (a server's, or a client's own).
    public var keyPair: CurveKeyPair?
    /// Client side: the public key of the server it connects to.
    public var serverKey: CurveKey?
    /// Server side: which clients the ZAP handler accepts.
    public var policy: ZAPPolicy?

    /// Creates channel security; every field defaults to "not set here".
    public init(keyPair: CurveKeyPair? = nil, serverKey: CurveKey? = nil, policy: ZAPPolicy? = nil) {
        self.keyPair = keyPair
        self.serverKey = serverKey
        self.policy = policy
    }

    /// `self` with every non-nil field of `override` taking precedence.
    public func merging(_ override: CurveChannelSecurity) -> CurveChannelSecurity {
        CurveChannelSecurity(keyPair: override.keyPair ?? keyPair, serverKey: override.serverKey ?? serverKey,
                             policy: override.policy ?? policy)
    }
}

/// How a daemon's CURVE channels get their keys: defaults for every channel and overrides per
/// channel. Keys never come from the schema; the process layer fills this from key files named
/// in the INI file or the environment, and code with ``init(for:defaults:channels:)``, which
/// names channels by type.
public struct SecurityConfiguration: Sendable, Equatable {
    /// What every CURVE channel of the daemon uses unless its entry in ``channels`` says otherwise.
    public var defaults: CurveChannelSecurity
    /// Per channel (by name, as the configuration file names them): overrides of ``defaults``.
    package var channels: [String: CurveChannelSecurity]

    /// Creates a configuration that applies `defaults` to every CURVE channel.
    public init(defaults: CurveChannelSecurity) {
        self.defaults = defaults
        self.channels = [:]
    }

    /// Creates a configuration with per-channel entries by name (the process layer's, from files).
    package init(defaults: CurveChannelSecurity = CurveChannelSecurity(), channels: [String: CurveChannelSecurity] = [:]) {
        self.defaults = defaults
        self.channels = channels
    }

    /// Creates a configuration for a typed daemon, its channels named so the compiler checks
    /// them: `SecurityConfiguration(for: SecurePair.Dispatcher.self, channels: [.job: …])`.
    public init<D: TypedDaemon>(for daemon: D.Type, defaults: CurveChannelSecurity = CurveChannelSecurity(),
                                channels: [D.Channel: CurveChannelSecurity]) {
        self.defaults = defaults
        self.channels = Dictionary(uniqueKeysWithValues: channels.map { (D.spec.channels[$0.key.rawValue].name, $0.value) })
    }

    /// The effective material of channel `channel`.
    package func security(forChannel channel: String) -> CurveChannelSecurity {
        channels[channel].map { defaults.merging($0) } ?? defaults
    }

    /// The CURVE role of a channel and, for a server, its ZAP policy. A channel without the
    /// keys its role needs, or a server without a client policy, is a
    /// ``SecurityConfigurationError`` (a start-up error: never a silently open or plaintext
    /// channel).
    /// - Parameters:
    ///   - daemon: the daemon's name, for the message.
    ///   - isServer: whether the channel is the CURVE server (by default the binding side).
    package func role(forChannel channel: String, daemon: String, isServer: Bool) throws(SecurityConfigurationError)
        -> (role: CurveRole, policy: ZAPPolicy?)
    {
        let material = security(forChannel: channel)
        let subject = "\(daemon) channel \(channel)"
        if isServer {
            guard let pair = material.keyPair else {
                throw SecurityConfigurationError("\(subject) is a CURVE server but has no key pair (set curve_secret_key_file)")
            }
            guard let policy = material.policy else {
                throw SecurityConfigurationError(
                    "\(subject) is a CURVE server but nothing says which clients may connect "
                        + "(set curve_allow_dir, or curve_allow_any = true)")
            }
            return (.server(pair), policy)
        }
        guard let pair = material.keyPair else {
            throw SecurityConfigurationError("\(subject) is a CURVE client but has no key pair of its own (set curve_secret_key_file)")
        }
        guard let serverKey = material.serverKey else {
            throw SecurityConfigurationError(
                "\(subject) is a CURVE client but has no server public key (set curve_server_public_key_file)")
        }
        return (.client(pair, serverKey: serverKey), nil)
    }
}
