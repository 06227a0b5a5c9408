import CZeroMQ
import ZGenVocabulary

/// One frame of a multipart message.
public typealias Frame = [UInt8]

extension SocketType {
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
    /// ZMQ_MAXMSGSIZE in bytes: the largest frame taken from a tcp or ipc peer (-1: no limit).
    case maxMessageSize(Int64)

    /// The channel option this socket option sets, for the options a schema can name.
    public var channelOption: ChannelOption? {
        switch self {
        case .reconnectIvl: .reconnectIvl
        case .reconnectIvlMax: .reconnectIvlMax
        case .heartbeatIvl: .heartbeatIvl
        case .heartbeatTtl: .heartbeatTtl
        case .heartbeatTimeout: .heartbeatTimeout
        case .immediate: .immediate
        case .routerMandatory: .routerMandatory
        case .tcpKeepalive: .tcpKeepalive
        case .xpubNoDrop: .xpubNoDrop
        case .maxMessageSize: .maxMessageSize
        case .sendHWM, .receiveHWM, .linger, .subscribe, .unsubscribe, .routingID: nil
        }
    }

    /// The option's libzmq name without the `ZMQ_` prefix, e.g. `SUBSCRIBE`.
    public var name: String {
        if let option = channelOption { return option.libzmqName }
        switch self {
        case .sendHWM: return "SNDHWM"
        case .receiveHWM: return "RCVHWM"
        case .linger: return "LINGER"
        case .subscribe: return "SUBSCRIBE"
        case .unsubscribe: return "UNSUBSCRIBE"
        case .routingID: return "ROUTING_ID"
        default: return "\(self)"
        }
    }

    /// Whether the option means anything on a socket of `type`.
    public func applies(to type: SocketType) -> Bool {
        if let option = channelOption { return option.applies(to: type) }
        switch self {
        case .sendHWM: return type.canSend
        case .receiveHWM: return type.canReceive
        case .subscribe, .unsubscribe: return type == .sub
        case .routingID: return [.req, .rep, .dealer, .router].contains(type)
        default: return true
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
        case .maxMessageSize: ZMQ_MAXMSGSIZE
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
