/// The eleven stable libzmq socket types, by their libzmq names (`PUSH`, `ROUTER`, …).
///
/// One definition for the generator (schema checks, generated channel tables) and the runtime
/// (sockets, daemons), so both agree on what each type can do.
public enum SocketType: String, Sendable, Hashable, CaseIterable {
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

    /// Whether application messages can be sent on this type.
    public var canSend: Bool {
        switch self {
        case .pull, .sub: false
        default: true
        }
    }

    /// Whether application messages can be received on this type.
    public var canReceive: Bool {
        switch self {
        case .push, .pub: false
        default: true
        }
    }

    /// Whether the type takes subscription prefixes (`subscribe`): SUB through the socket
    /// option, XSUB by sending subscription messages.
    public var takesSubscriptions: Bool { self == .sub || self == .xsub }
}
