import CZeroMQ

/// One frame of a multipart message.
public typealias Frame = [UInt8]

/// The eleven stable libzmq socket types.
public enum SocketType: String, Sendable, CaseIterable {
    /// Pipeline sender (round-robin over connected PULLs).
    case push = "PUSH"
    /// Pipeline receiver (fair-queued).
    case pull = "PULL"
    /// Publisher (drops at the high-water mark).
    case pub = "PUB"
    /// Subscriber (filters by prefix).
    case sub = "SUB"
    /// Publisher that also receives subscription messages.
    case xpub = "XPUB"
    /// Subscriber that sends subscription messages as data.
    case xsub = "XSUB"
    /// Strict request/reply client.
    case req = "REQ"
    /// Strict request/reply server.
    case rep = "REP"
    /// Asynchronous request socket (no envelope).
    case dealer = "DEALER"
    /// Routing socket: first frame is the peer's routing id.
    case router = "ROUTER"
    /// Exclusive pair.
    case pair = "PAIR"

    /// The libzmq constant (`ZMQ_PUSH`, ...).
    public var zmqType: Int32 {
        switch self {
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pair: ZMQ_PAIR
        }
    }

    /// Whether messages can be sent on this type.
    public var canSend: Bool {
        switch self {
        case .pull, .sub: false
        default: true
        }
    }

    /// Whether messages can be received on this type.
    public var canReceive: Bool {
        switch self {
        case .push, .pub: false
        default: true
        }
    }
}

/// A socket option the runtime sets. Each case knows which socket types it applies to;
/// setting it on another type is a ``ZDaemonError`` naming both.
public enum SocketOption: Sendable, Equatable {
    /// ZMQ_SNDHWM: outgoing high-water mark (messages).
    case sendHWM(Int32)
    /// ZMQ_RCVHWM: incoming high-water mark (messages).
    case receiveHWM(Int32)
    /// ZMQ_LINGER in milliseconds (-1 = forever, 0 = drop at close).
    case linger(Int32)
    /// ZMQ_SUBSCRIBE: prefix filter (SUB only).
    case subscribe([UInt8])
    /// ZMQ_UNSUBSCRIBE: removes a prefix filter (SUB only).
    case unsubscribe([UInt8])
    /// ZMQ_ROUTING_ID: this socket's identity as seen by a ROUTER peer.
    case routingID([UInt8])
    /// ZMQ_RECONNECT_IVL in milliseconds.
    case reconnectIvl(Int32)
    /// ZMQ_RECONNECT_IVL_MAX in milliseconds.
    case reconnectIvlMax(Int32)
    /// ZMQ_HEARTBEAT_IVL in milliseconds.
    case heartbeatIvl(Int32)
    /// ZMQ_HEARTBEAT_TTL in milliseconds.
    case heartbeatTtl(Int32)
    /// ZMQ_HEARTBEAT_TIMEOUT in milliseconds.
    case heartbeatTimeout(Int32)
    /// ZMQ_IMMEDIATE: queue only to completed connections.
    case immediate(Bool)
    /// ZMQ_ROUTER_MANDATORY: unroutable sends fail instead of being dropped (ROUTER only).
    case routerMandatory(Bool)
    /// ZMQ_TCP_KEEPALIVE: enable (true) or disable (false) TCP keepalive.
    case tcpKeepalive(Bool)
    /// ZMQ_XPUB_NODROP: refuse (EAGAIN) instead of dropping at the high-water mark (XPUB only).
    case xpubNoDrop(Bool)

    /// The option's libzmq name without the `ZMQ_` prefix, e.g. `SUBSCRIBE`.
    public var name: String {
        switch self {
        case .sendHWM: "SNDHWM"
        case .receiveHWM: "RCVHWM"
        case .linger: "LINGER"
        case .subscribe: "SUBSCRIBE"
        case .unsubscribe: "UNSUBSCRIBE"
        case .routingID: "ROUTING_ID"
        case .reconnectIvl: "RECONNECT_IVL"
        case .reconnectIvlMax: "RECONNECT_IVL_MAX"
        case .heartbeatIvl: "HEARTBEAT_IVL"
        case .heartbeatTtl: "HEARTBEAT_TTL"
        case .heartbeatTimeout: "HEARTBEAT_TIMEOUT"
        case .immediate: "IMMEDIATE"
        case .routerMandatory: "ROUTER_MANDATORY"
        case .tcpKeepalive: "TCP_KEEPALIVE"
        case .xpubNoDrop: "XPUB_NODROP"
        }
    }

    /// Whether the option means anything on a socket of `type`.
    public func applies(to type: SocketType) -> Bool {
        switch self {
        case .sendHWM: type.canSend
        case .receiveHWM: type.canReceive
        case .subscribe, .unsubscribe: type == .sub
        case .routingID: [.req, .rep, .dealer, .router].contains(type)
        case .routerMandatory: type == .router
        case .xpubNoDrop: type == .xpub
        case .linger, .reconnectIvl, .reconnectIvlMax, .heartbeatIvl, .heartbeatTtl,
            .heartbeatTimeout, .immediate, .tcpKeepalive:
            true
        }
    }

    var code: Int32 {
        switch self {
        case .sendHWM: ZMQ_SNDHWM
        case .receiveHWM: ZMQ_RCVHWM
        case .linger: ZMQ_LINGER
        case .subscribe: ZMQ_SUBSCRIBE
        case .unsubscribe: ZMQ_UNSUBSCRIBE
        case .routingID: ZMQ_ROUTING_ID
        case .reconnectIvl: ZMQ_RECONNECT_IVL
        case .reconnectIvlMax: ZMQ_RECONNECT_IVL_MAX
        case .heartbeatIvl: ZMQ_HEARTBEAT_IVL
        case .heartbeatTtl: ZMQ_HEARTBEAT_TTL
        case .heartbeatTimeout: ZMQ_HEARTBEAT_TIMEOUT
        case .immediate: ZMQ_IMMEDIATE
        case .routerMandatory: ZMQ_ROUTER_MANDATORY
        case .tcpKeepalive: ZMQ_TCP_KEEPALIVE
        case .xpubNoDrop: ZMQ_XPUB_NODROP
        }
    }
}

/// Readiness flags for polling (`ZMQ_POLLIN` / `ZMQ_POLLOUT`).
public struct PollEvents: OptionSet, Sendable, Hashable {
    /// The raw `short` flags.
    public var rawValue: Int16
    /// Wraps raw flags.
    public init(rawValue: Int16) { self.rawValue = rawValue }
    /// A message can be received without blocking.
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without blocking.
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
}
