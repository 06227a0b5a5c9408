/// Channel settings shared by the generator and the runtime: the defaults and allowed ranges of
/// a channel's numbers, so a schema and a run-time override are checked against the same limits.
public enum ChannelLimits {
    /// Default high-water mark (SNDHWM/RCVHWM), messages: libzmq's own default.
    public static let defaultHWM = 1000
    /// Default bound of the runtime's own send queue, messages.
    public static let defaultQueue = 1000
    /// Default request timeout (REQ, DEALER request channels), ms: no request waits forever.
    public static let defaultTimeout = 5000
    /// The largest frame a receiving channel takes from a tcp or ipc peer unless its
    /// `maxMessageSize` option says otherwise, bytes: 1 MiB (a bigger frame makes libzmq drop the
    /// connection; the peer may reconnect).
    public static let defaultMaxMessageSize = 1 << 20
    /// The same for PUB and XPUB channels, whose only inbound frames are their subscribers'
    /// subscriptions: 4 KiB, so that no subscriber can make the daemon keep a huge prefix.
    public static let defaultMaxSubscriptionSize = 4 << 10
    /// The most frames one received message may have unless the channel's `maxParts` option
    /// says otherwise: 64 (more is dropped and counted; libzmq has no such limit).
    public static let defaultMaxParts = 64
    /// The most bytes one received message may have in all its frames unless the channel's
    /// `maxTotalSize` option says otherwise: 4 MiB (more is dropped and counted).
    public static let defaultMaxTotalSize = 4 << 20
    /// `hwm`: 0 (no limit) up to Int32.max messages.
    public static let hwm: ClosedRange<Int> = 0...Int(Int32.max)
    /// `queue`: 0 up to Int32.max messages.
    public static let queue: ClosedRange<Int> = 0...Int(Int32.max)
    /// `linger`: -1 (forever) up to Int32.max ms.
    public static let linger: ClosedRange<Int> = -1...Int(Int32.max)
    /// `timeout` (REQ only): 1 up to Int32.max ms.
    public static let timeout: ClosedRange<Int> = 1...Int(Int32.max)
}

/// An option a channel may set (`options` in a schema, snake_case keys at run time): a libzmq
/// socket option, or one of the two bounds the runtime itself enforces on every message it
/// receives (``maxParts``, ``maxTotalSize``; see ``isSocketOption``).
///
/// Each case knows its names in every place it is written, its value's kind and range, and the
/// socket types it applies to: the generator, the run-time configuration and the runtime's socket
/// code read them from here, and a test holds the JSON Schema to them.
public enum ChannelOption: String, Sendable, Hashable, CaseIterable {
    /// ZMQ_RECONNECT_IVL, ms (-1: no reconnection).
    case reconnectIvl
    /// ZMQ_RECONNECT_IVL_MAX, ms.
    case reconnectIvlMax
    /// ZMQ_HEARTBEAT_IVL, ms.
    case heartbeatIvl
    /// ZMQ_HEARTBEAT_TIMEOUT, ms.
    case heartbeatTimeout
    /// ZMQ_HEARTBEAT_TTL, ms (libzmq keeps it in deciseconds, up to 6553.5 s).
    case heartbeatTtl
    /// ZMQ_IMMEDIATE: queue only to completed connections.
    case immediate
    /// ZMQ_ROUTER_MANDATORY (ROUTER only): unroutable sends fail instead of being dropped.
    case routerMandatory
    /// ZMQ_TCP_KEEPALIVE.
    case tcpKeepalive
    /// ZMQ_XPUB_NODROP (XPUB only): refuse instead of dropping at the high-water mark.
    case xpubNoDrop
    /// ZMQ_MAXMSGSIZE, bytes: the largest frame taken from a tcp or ipc peer (libzmq drops the
    /// connection of a peer that sends a bigger one; inproc is not limited). At least 256: libzmq
    /// applies it to its handshake too.
    case maxMessageSize
    /// The most frames one received message may have (runtime-enforced; default
    /// ``ChannelLimits/defaultMaxParts``): a bigger message is dropped and counted.
    case maxParts
    /// The most bytes one received message may have in all its frames (runtime-enforced;
    /// default ``ChannelLimits/defaultMaxTotalSize``): a bigger message is dropped and counted.
    case maxTotalSize

    /// What an option's value is.
    public enum Kind: Sendable, Hashable {
        /// An integer (milliseconds) within the range.
        case integer(ClosedRange<Int>)
        /// A flag.
        case flag
    }

    /// The key in a schema's `options` object (`reconnectIvl`).
    public var schemaKey: String { rawValue }

    /// The run-time override key (`reconnect_ivl`): INI `[run:…]`, `ZGEN_…_RECONNECT_IVL`, `--set`.
    public var configurationKey: String {
        var key = ""
        for character in rawValue {
            if character.isUppercase {
                key += "_" + character.lowercased()
            } else {
                key.append(character)
            }
        }
        return key
    }

    /// The option whose run-time override key is `key` (`reconnect_ivl`).
    public init?(configurationKey key: String) {
        guard let option = Self.allCases.first(where: { $0.configurationKey == key }) else { return nil }
        self = option
    }

    /// Whether libzmq implements the option (as a socket option); the runtime enforces the others.
    public var isSocketOption: Bool {
        switch self {
        case .maxParts, .maxTotalSize: false
        default: true
        }
    }

    /// The libzmq name without `ZMQ_` (`RECONNECT_IVL`); for a runtime-enforced option, its
    /// run-time key upper-cased (`MAX_PARTS`).
    public var libzmqName: String {
        switch self {
        case .xpubNoDrop: "XPUB_NODROP"
        case .maxMessageSize: "MAXMSGSIZE"
        default: configurationKey.uppercased()
        }
    }

    /// The value's kind and, for integers, the allowed range.
    public var kind: Kind {
        switch self {
        case .reconnectIvl: .integer(-1...Int(Int32.max))
        case .reconnectIvlMax, .heartbeatIvl, .heartbeatTimeout: .integer(0...Int(Int32.max))
        case .heartbeatTtl: .integer(0...655_350)
        case .maxMessageSize, .maxTotalSize: .integer(256...Int(Int32.max))
        case .maxParts: .integer(1...Int(Int32.max))
        case .immediate, .routerMandatory, .tcpKeepalive, .xpubNoDrop: .flag
        }
    }

    /// The only socket type the option applies to, if it is limited to one.
    public var onlySocket: SocketType? {
        switch self {
        case .routerMandatory: .router
        case .xpubNoDrop: .xpub
        default: nil
        }
    }

    /// Whether the option means anything on a socket of `type`.
    public func applies(to type: SocketType) -> Bool {
        onlySocket.map { $0 == type } ?? true
    }
}

/// The value of one ``ChannelOption``.
public enum ChannelOptionValue: Sendable, Hashable {
    /// An integer option's value.
    case integer(Int32)
    /// A flag's value.
    case flag(Bool)
}

/// Socket options of a channel; `nil` keeps libzmq's default.
public struct ChannelOptions: Sendable, Hashable {
    /// ZMQ_RECONNECT_IVL, ms.
    public var reconnectIvl: Int32?
    /// ZMQ_RECONNECT_IVL_MAX, ms.
    public var reconnectIvlMax: Int32?
    /// ZMQ_HEARTBEAT_IVL, ms.
    public var heartbeatIvl: Int32?
    /// ZMQ_HEARTBEAT_TIMEOUT, ms.
    public var heartbeatTimeout: Int32?
    /// ZMQ_HEARTBEAT_TTL, ms.
    public var heartbeatTtl: Int32?
    /// ZMQ_IMMEDIATE.
    public var immediate: Bool?
    /// ZMQ_ROUTER_MANDATORY (ROUTER only).
    public var routerMandatory: Bool?
    /// ZMQ_TCP_KEEPALIVE.
    public var tcpKeepalive: Bool?
    /// ZMQ_XPUB_NODROP (XPUB only): at the high-water mark a send is refused (and queued by
    /// the runtime, then `ChannelFullError`) instead of silently dropped.
    public var xpubNoDrop: Bool?
    /// ZMQ_MAXMSGSIZE, bytes; `nil`: ``ChannelLimits/defaultMaxMessageSize`` (PUB and XPUB:
    /// ``ChannelLimits/defaultMaxSubscriptionSize``), which the runtime sets.
    public var maxMessageSize: Int32?
    /// The most frames of one received message; `nil`: ``ChannelLimits/defaultMaxParts``.
    public var maxParts: Int32?
    /// The most bytes of one received message; `nil`: ``ChannelLimits/defaultMaxTotalSize``.
    public var maxTotalSize: Int32?

    /// Creates options; every argument defaults to libzmq's default (``maxMessageSize``,
    /// ``maxParts`` and ``maxTotalSize``: the runtime's).
    public init(reconnectIvl: Int32? = nil, reconnectIvlMax: Int32? = nil, heartbeatIvl: Int32? = nil,
                heartbeatTimeout: Int32? = nil, heartbeatTtl: Int32? = nil, immediate: Bool? = nil,
                routerMandatory: Bool? = nil, tcpKeepalive: Bool? = nil, xpubNoDrop: Bool? = nil,
                maxMessageSize: Int32? = nil, maxParts: Int32? = nil, maxTotalSize: Int32? = nil) {
        self.reconnectIvl = reconnectIvl
        self.reconnectIvlMax = reconnectIvlMax
        self.heartbeatIvl = heartbeatIvl
        self.heartbeatTimeout = heartbeatTimeout
        self.heartbeatTtl = heartbeatTtl
        self.immediate = immediate
        self.routerMandatory = routerMandatory
        self.tcpKeepalive = tcpKeepalive
        self.xpubNoDrop = xpubNoDrop
        self.maxMessageSize = maxMessageSize
        self.maxParts = maxParts
        self.maxTotalSize = maxTotalSize
    }

    /// One option's value, by its descriptor.
    public subscript(option: ChannelOption) -> ChannelOptionValue? {
        get {
            switch option {
            case .reconnectIvl: reconnectIvl.map(ChannelOptionValue.integer)
            case .reconnectIvlMax: reconnectIvlMax.map(ChannelOptionValue.integer)
            case .heartbeatIvl: heartbeatIvl.map(ChannelOptionValue.integer)
            case .heartbeatTimeout: heartbeatTimeout.map(ChannelOptionValue.integer)
            case .heartbeatTtl: heartbeatTtl.map(ChannelOptionValue.integer)
            case .immediate: immediate.map(ChannelOptionValue.flag)
            case .routerMandatory: routerMandatory.map(ChannelOptionValue.flag)
            case .tcpKeepalive: tcpKeepalive.map(ChannelOptionValue.flag)
            case .xpubNoDrop: xpubNoDrop.map(ChannelOptionValue.flag)
            case .maxMessageSize: maxMessageSize.map(ChannelOptionValue.integer)
            case .maxParts: maxParts.map(ChannelOptionValue.integer)
            case .maxTotalSize: maxTotalSize.map(ChannelOptionValue.integer)
            }
        }
        set {
            func integer() -> Int32? {
                if case .integer(let value)? = newValue { return value }
                return nil
            }
            func flag() -> Bool? {
                if case .flag(let value)? = newValue { return value }
                return nil
            }
            switch option {
            case .reconnectIvl: reconnectIvl = integer()
            case .reconnectIvlMax: reconnectIvlMax = integer()
            case .heartbeatIvl: heartbeatIvl = integer()
            case .heartbeatTimeout: heartbeatTimeout = integer()
            case .heartbeatTtl: heartbeatTtl = integer()
            case .immediate: immediate = flag()
            case .routerMandatory: routerMandatory = flag()
            case .tcpKeepalive: tcpKeepalive = flag()
            case .xpubNoDrop: xpubNoDrop = flag()
            case .maxMessageSize: maxMessageSize = integer()
            case .maxParts: maxParts = integer()
            case .maxTotalSize: maxTotalSize = integer()
            }
        }
    }

    /// The options that are set, in declaration order.
    public var setOptions: [(option: ChannelOption, value: ChannelOptionValue)] {
        ChannelOption.allCases.compactMap { option in self[option].map { (option, $0) } }
    }

    /// Whether every option is libzmq's default.
    public var isEmpty: Bool { self == ChannelOptions() }

    /// `self` with every non-nil field of `override` taking precedence.
    public func merging(_ override: ChannelOptions) -> ChannelOptions {
        var result = self
        for (option, value) in override.setOptions { result[option] = value }
        return result
    }
}
