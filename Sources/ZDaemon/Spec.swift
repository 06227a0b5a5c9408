import Logging
import Metrics
import ZGenVocabulary

extension ChannelOptions {
    /// The options that are set and that libzmq implements, as socket options.
    public var socketOptions: [SocketOption] {
        setOptions.filter { $0.option.isSocketOption }.map { option, value in
            switch (option, value) {
            case (.reconnectIvl, .integer(let v)): .reconnectIvl(v)
            case (.reconnectIvlMax, .integer(let v)): .reconnectIvlMax(v)
            case (.heartbeatIvl, .integer(let v)): .heartbeatIvl(v)
            case (.heartbeatTimeout, .integer(let v)): .heartbeatTimeout(v)
            case (.heartbeatTtl, .integer(let v)): .heartbeatTtl(v)
            case (.immediate, .flag(let v)): .immediate(v)
            case (.routerMandatory, .flag(let v)): .routerMandatory(v)
            case (.tcpKeepalive, .flag(let v)): .tcpKeepalive(v)
            case (.xpubNoDrop, .flag(let v)): .xpubNoDrop(v)
            case (.maxMessageSize, .integer(let v)): .maxMessageSize(Int64(v))
            default: preconditionFailure("\(option) holds a value of the wrong kind")
            }
        }
    }
}

/// One declared channel of a daemon: a socket, its endpoints and options.
public struct ChannelSpec: Sendable, Equatable {
    /// The channel's name (`job`), used in logs, errors and metrics.
    public var name: String
    /// The socket type.
    public var socket: SocketType
    /// Endpoints to bind or connect (several allowed).
    public var endpoints: [String]
    /// Bind (true) or connect (false).
    public var bind: Bool
    /// SUB prefixes (UTF-8); an empty string subscribes to everything.
    public var subscribe: [String]
    /// High-water mark set as SNDHWM and/or RCVHWM, as the type allows.
    public var hwm: Int32
    /// Bound of the runtime's own send queue for messages the socket could not take yet.
    public var queue: Int
    /// Linger at close in ms; `nil` uses the configuration's linger.
    public var linger: Int32?
    /// REQ: the reply timeout (then the socket is reopened, Lazy Pirate); DEALER request
    /// channel: a request's timeout when the call gives none. In ms; `nil`:
    /// ``ChannelLimits/defaultTimeout`` (5 s).
    public var timeout: Int?
    /// Name of the sending channel that drains this input (flow control, issue 7).
    public var drainedBy: String?
    /// Name of the receiving channel this output drains (flow control, issue 7).
    public var drains: String?
    /// Further socket options.
    public var options: ChannelOptions
    /// Transport security: anything but `.none` needs the daemon's security provider
    /// (``DaemonConfiguration/security``), which holds the keys; the spec never does.
    public var security: ChannelSecurity
    /// Secured channels: whether this side is the security server (CURVE's `curveServer`);
    /// `nil` = the binding side is.
    public var curveServer: Bool?
    /// Free text from the schema.
    public var description: String?

    /// Creates a channel declaration.
    public init(name: String, socket: SocketType, endpoints: [String], bind: Bool = false,
                subscribe: [String] = [], hwm: Int32 = Int32(ChannelLimits.defaultHWM), queue: Int = ChannelLimits.defaultQueue,
                linger: Int32? = nil,
                timeout: Int? = nil, drainedBy: String? = nil, drains: String? = nil,
                options: ChannelOptions = ChannelOptions(), security: ChannelSecurity = .none,
                curveServer: Bool? = nil, description: String? = nil) {
        self.name = name
        self.socket = socket
        self.endpoints = endpoints
        self.bind = bind
        self.subscribe = subscribe
        self.hwm = hwm
        self.queue = queue
        self.linger = linger
        self.timeout = timeout
        self.drainedBy = drainedBy
        self.drains = drains
        self.options = options
        self.security = security
        self.curveServer = curveServer
        self.description = description
    }

    /// Whether this side is the security server: ``curveServer`` if set, else ``bind``.
    public var isCurveServer: Bool { curveServer ?? bind }
}

/// A daemon's declaration: its name, process title, app and channels.
public struct DaemonSpec: Sendable, Equatable {
    /// The type name, e.g. `MyWorker`; the name in log lines (`MyWorker has begun processing messages`).
    public var name: String
    /// The process title, e.g. `(my:worker)`.
    public var title: String
    /// The application the daemon belongs to, e.g. `my_zmq`.
    public var app: String
    /// How many processes of this daemon an app runs (the schema's `instances`; at least 1): the
    /// process layer's launcher starts that many unless told otherwise.
    public var instances: Int
    /// The channels, in declaration order (a `DaemonChannel`'s raw value is a position here).
    public var channels: [ChannelSpec]
    /// Free text from the schema.
    public var description: String?

    /// Creates a daemon declaration.
    public init(name: String, title: String, app: String, instances: Int = 1, channels: [ChannelSpec], description: String? = nil) {
        self.name = name
        self.title = title
        self.app = app
        self.instances = max(1, instances)
        self.channels = channels
        self.description = description
    }
}

/// Deployment-time changes to one channel (from INI, environment or command line); `nil`
/// fields keep the spec's value.
public struct ChannelOverride: Sendable, Equatable {
    /// Replacement endpoints.
    public var endpoints: [String]?
    /// Replacement bind/connect choice.
    public var bind: Bool?
    /// Replacement subscriptions.
    public var subscribe: [String]?
    /// Replacement high-water mark.
    public var hwm: Int32?
    /// Replacement send-queue bound.
    public var queue: Int?
    /// Replacement linger (ms).
    public var linger: Int32?
    /// Replacement request timeout (ms; REQ and DEALER request channels).
    public var timeout: Int?
    /// Transport security turned on at deployment (`security = curve` for a channel the schema
    /// leaves plaintext). The process layer refuses to turn a schema's CURVE off.
    public var security: ChannelSecurity?
    /// Options merged field by field over the spec's.
    public var options: ChannelOptions

    /// Creates an override; every argument defaults to "keep the spec's value".
    public init(endpoints: [String]? = nil, bind: Bool? = nil, subscribe: [String]? = nil, hwm: Int32? = nil,
                queue: Int? = nil, linger: Int32? = nil, timeout: Int? = nil, security: ChannelSecurity? = nil,
                options: ChannelOptions = ChannelOptions()) {
        self.security = security
        self.endpoints = endpoints
        self.bind = bind
        self.subscribe = subscribe
        self.hwm = hwm
        self.queue = queue
        self.linger = linger
        self.timeout = timeout
        self.options = options
    }

    /// This override with `other`'s values on top: what `other` sets wins, what it leaves
    /// `nil` stays (options merge field by field).
    public func merging(_ other: ChannelOverride) -> ChannelOverride {
        var result = self
        if let endpoints = other.endpoints { result.endpoints = endpoints }
        if let bind = other.bind { result.bind = bind }
        if let subscribe = other.subscribe { result.subscribe = subscribe }
        if let hwm = other.hwm { result.hwm = hwm }
        if let queue = other.queue { result.queue = queue }
        if let linger = other.linger { result.linger = linger }
        if let timeout = other.timeout { result.timeout = timeout }
        if let security = other.security { result.security = security }
        result.options = options.merging(other.options)
        return result
    }

    /// `spec` with this override applied.
    public func applied(to spec: ChannelSpec) -> ChannelSpec {
        var result = spec
        if let endpoints { result.endpoints = endpoints }
        if let bind { result.bind = bind }
        if let subscribe { result.subscribe = subscribe }
        if let hwm { result.hwm = hwm }
        if let queue { result.queue = queue }
        if let linger { result.linger = linger }
        if let timeout { result.timeout = timeout }
        if let security { result.security = security }
        result.options = result.options.merging(options)
        return result
    }
}

/// How a daemon is deployed: everything not in its spec. `DaemonConfiguration()` is all
/// defaults; the process layer fills it from INI, environment and command line.
public struct DaemonConfiguration: Sendable {
    /// Builds the daemon's logger from its label (the spec's app; the daemon's name is in every
    /// message, once). Defaults to `Logger(label:)` (whatever `LoggingSystem` was bootstrapped with).
    public var makeLogger: @Sendable (String) -> Logger
    /// Overrides the process title put in the logger's `title` metadata (`nil` = spec's title).
    public var title: String?
    /// Extra metadata on every log line of the daemon.
    public var metadata: Logger.Metadata
    /// The libzmq context; `nil` = the process-wide shared context (``ZMQContext/shared()``).
    public var context: ZMQContext?
    /// Upper bound for flushing pending sends at terminate, and the default socket linger.
    public var linger: Duration
    /// How long terminating may spend handling what was already queued for the daemon and
    /// running its will-terminate handlers (default 5 s; the flush then gets the linger). What
    /// is still queued at the deadline is dropped, counted and logged, and the handle reports
    /// it (``DaemonHandle/wasCutShort``). A handler that is running when the deadline passes is
    /// not interrupted; the process layer ends such a process (exit 75).
    public var shutdownTimeout: Duration
    /// Watchdog threshold: a handler or timer busy longer than this is logged (0 = off).
    public var blockingThreshold: Duration
    /// Per-channel overrides, keyed by channel name: filled by the process layer from the
    /// configuration file, the environment and the command line. Code names channels by type
    /// instead: `MyWorker.override(.job, with: …, in: &configuration)` (``TypedDaemon``).
    package var channels: [String: ChannelOverride]
    /// The loop's clock (tests inject `ZDaemonTesting`'s `ManualClock`).
    public var clock: any EventLoopClock
    /// At most this many messages are taken from one readable socket before polling again.
    public var receiveBatch: Int
    /// At most this many already-queued messages per channel are handled at terminate.
    public var terminateDrainLimit: Int
    /// How many decoded messages a streamed channel (``InboundMessages``) buffers for its
    /// consumers before the daemon stops reading its socket (at least 1; default 64).
    public var streamBuffer: Int
    /// Prefix of the swift-metrics labels (`<prefix>_received`, `_sent`, `_dropped`,
    /// `_handler_errors`, `_refused`; dimensions `daemon` and `channel`).
    public var metricsPrefix: String
    /// Where the counters go; `nil` = the bootstrapped `MetricsSystem.factory`.
    public var metricsFactory: (any MetricsFactory)?
    /// Observe every channel's socket events (logged and counted). Channels with an
    /// `onSocketEvent` handler, and secured channels, are observed regardless.
    public var monitorSocketEvents: Bool
    /// What secures the channels whose spec asks for security (for CURVE,
    /// `ZDaemonSecurity`'s `SecurityConfiguration`); `nil`: none, so such a channel is a
    /// start-up error (never a silently plaintext channel).
    public var security: (any ChannelSecurityProvider)?

    /// All defaults: shared context, 1 s linger, 5 s shutdown timeout, 5 s watchdog, system clock.
    public init() {
        makeLogger = { Logger(label: $0) }
        title = nil
        metadata = [:]
        context = nil
        linger = .seconds(1)
        shutdownTimeout = .seconds(5)
        blockingThreshold = .seconds(5)
        channels = [:]
        clock = SystemClock()
        receiveBatch = 256
        terminateDrainLimit = 100_000
        streamBuffer = 64
        metricsPrefix = "zdaemon_messages"
        metricsFactory = nil
        monitorSocketEvents = false
        security = nil
    }
}

/// A routing id of a ROUTER peer.
public struct RoutingID: Sendable, Hashable, CustomStringConvertible {
    /// The id's bytes as libzmq delivers them.
    public var bytes: [UInt8]
    /// Wraps id bytes.
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    /// Hex of the bytes (ids are usually binary).
    public var description: String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}

/// A channel's message counts (also exported through swift-metrics).
public struct ChannelCounters: Sendable, Equatable {
    /// Messages received and handed to a handler (including ones the handler then failed on).
    public var received: Int
    /// Messages handed to libzmq.
    public var sent: Int
    /// Malformed messages (``FrameDecodingError``) and messages without a handler or envelope.
    public var dropped: Int
    /// Handler calls that threw any other error.
    public var handlerErrors: Int
    /// Sends that threw instead of sending: ``ChannelFullError`` (the socket was at its
    /// high-water mark and the channel's queue was full, including an XPUB with no-drop) or a
    /// libzmq refusal such as a ROUTER's unroutable peer under `routerMandatory` (EHOSTUNREACH).
    public var refused: Int
    /// Requests that did not end with their reply: on a caller (REQ, DEALER request channel) the
    /// ones answered with the declared error or a failure, or timed out; on a server (REP, ROUTER
    /// request channel) the ones it answered with the declared error or a failure.
    public var failed: Int
    /// Replies that came after their request had timed out (dropped: they never reach another request).
    public var late: Int

    /// Creates counts.
    public init(received: Int = 0, sent: Int = 0, dropped: Int = 0, handlerErrors: Int = 0, refused: Int = 0,
                failed: Int = 0, late: Int = 0) {
        self.received = received
        self.sent = sent
        self.dropped = dropped
        self.handlerErrors = handlerErrors
        self.refused = refused
        self.failed = failed
        self.late = late
    }
}
