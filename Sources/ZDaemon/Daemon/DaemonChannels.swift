/// A daemon's channel as a typed identifier. A generated daemon nests one,
/// `enum Channel: Int, DaemonChannel`, with a case per channel in the schema's order; a
/// hand-written daemon declares its own the same way. The raw value is the channel's position in
/// the spec's `channels`: the runtime uses it, code names channels by case.
public protocol DaemonChannel: RawRepresentable, Hashable, Sendable where RawValue == Int {}

// The public channel API of `Daemon`: every call names its channel by a `DaemonChannel`.
extension Daemon {
    /// Handles every message received on a channel (PULL, SUB, XSUB, XPUB, PAIR, DEALER, or a
    /// ROUTER when the raw envelope is wanted).
    public func onReceive(_ channel: some DaemonChannel, _ handler: @escaping ([Frame]) throws -> Void) {
        onReceive(channel.rawValue, handler)
    }

    /// Like ``onReceive(_:_:)``, but the handler gets the frames borrowed from libzmq's receive
    /// buffers (``ReceivedFrames``, valid only during the call) instead of a `[Frame]` copy: the
    /// fastest path, which generated daemons use to decode straight into typed messages.
    @inlinable
    public func onReceiveBorrowed(_ channel: some DaemonChannel, _ handler: @escaping (ReceivedFrames) throws -> Void) {
        onReceiveBorrowed(channel.rawValue, handler)
    }

    /// Handles requests on a REP channel; the returned frames are the reply (zgen's layout puts
    /// the `ok` status frame before them). If the handler throws, the requester gets a failure
    /// reply with the error as its reason (see ``RequestWire``).
    @inlinable
    public func onRequest(_ channel: some DaemonChannel, _ handler: @escaping ([Frame]) throws -> [Frame]) {
        onRequest(channel.rawValue, handler)
    }

    /// Handles the outcome of the last request sent on a REQ channel: the reply's body, or a
    /// ``RequestFailure`` (the declared error's body, a failure, or the timeout).
    @inlinable
    public func onReply(_ channel: some DaemonChannel, _ handler: @escaping (Result<[Frame], RequestFailure<[Frame]>>) throws -> Void) {
        onReply(channel.rawValue, handler)
    }

    /// Handles messages on a ROUTER channel with the envelope stripped. Both peer shapes are
    /// understood: DEALER (id, body…) and REQ (id, empty delimiter, body…); replies through
    /// ``send(_:on:to:)`` use the shape the peer last used.
    @inlinable
    public func onRouted(_ channel: some DaemonChannel, _ handler: @escaping (RoutingID, [Frame]) throws -> Void) {
        onRouted(channel.rawValue, handler)
    }

    /// Observes a channel's socket events (connected, accepted, disconnected, handshake
    /// failures, …) through libzmq's monitor; they are also logged and counted. Register before
    /// ``open()``/``run()``. A thrown error is logged and counted as a handler error.
    @inlinable
    public func onSocketEvent(_ channel: some DaemonChannel, _ handler: @escaping (SocketEvent) throws -> Void) {
        onSocketEvent(channel.rawValue, handler)
    }

    /// Sends a message on a channel. When the socket cannot take it now (high-water mark), it
    /// waits in the channel's bounded queue and goes out when the socket is writable; a full
    /// queue throws ``ChannelFullError``. On a REQ channel this sends the request and starts its
    /// timeout; a second request before the reply throws.
    @inlinable
    public func send(_ frames: [Frame], on channel: some DaemonChannel) throws {
        try send(frames, on: channel.rawValue)
    }

    /// Sends a typed message on a channel, as ``send(_:on:)-([Frame],_)`` does. While the channel's
    /// queue is empty and the socket takes it, the frames go straight from the message's values
    /// to libzmq (``FrameMessage/sendFrames(to:)``): no `[Frame]` is built. Otherwise the message
    /// is encoded and queued, or sent as a request on a REQ channel.
    @inlinable
    public func send(_ message: some FrameMessage, on channel: some DaemonChannel) throws {
        try send(on: channel.rawValue, { try message.sendFrames(to: &$0) }, encoded: { try message.encodeFrames() })
    }

    /// Sends `frames` to one peer of a ROUTER channel, in the envelope shape the peer used.
    @inlinable
    public func send(_ frames: [Frame], on channel: some DaemonChannel, to peer: RoutingID) throws {
        try send(frames, on: channel.rawValue, to: peer)
    }

    /// A channel's counters (received, sent, dropped, handlerErrors, refused).
    public func counters(_ channel: some DaemonChannel) -> ChannelCounters { counters(channel.rawValue) }

    /// A channel's effective spec (configuration overrides applied).
    public func channelSpec(_ channel: some DaemonChannel) -> ChannelSpec { channelSpec(channel.rawValue) }

    /// The endpoints a channel actually bound (wildcard ports resolved); empty for connects or
    /// before ``open()``.
    public func boundEndpoints(_ channel: some DaemonChannel) -> [String] { boundEndpoints(channel.rawValue) }

    /// Messages waiting in a channel's own send queue (the socket could not take them yet).
    public func queuedSends(_ channel: some DaemonChannel) -> Int { queuedSends(channel.rawValue) }

    /// Whether reading a channel is paused: the channel that drains it (`drainedBy`) has its
    /// send queue backed up (see ``queuedSends(_:)``), or its stream buffer is full.
    public func isReceivePaused(_ channel: some DaemonChannel) -> Bool { isReceivePaused(channel.rawValue) }

    /// The raw socket of a channel (`nil` when closed). For options and diagnostics; do not
    /// receive on it.
    public func socket(_ channel: some DaemonChannel) -> Socket? { socket(channel.rawValue) }

    /// Live connections of a monitored channel: connects and accepts minus disconnects.
    public func liveConnections(_ channel: some DaemonChannel) -> Int { liveConnections(channel.rawValue) }

    /// How many socket events of each kind (`connected`, `accepted`, `disconnected`, …) a
    /// monitored channel has seen.
    public func socketEventCounts(_ channel: some DaemonChannel) -> [String: Int] { socketEventCounts(channel.rawValue) }

    /// Whether a channel's socket events are observed (``DaemonConfiguration/monitorSocketEvents``,
    /// an ``onSocketEvent(_:_:)`` handler, or a secured channel), so that
    /// ``liveConnections(_:)`` means something.
    public func monitorsSocketEvents(_ channel: some DaemonChannel) -> Bool { monitorsSocketEvents(channel.rawValue) }
}

extension DaemonHandle {
    /// The endpoints a channel bound (wildcards resolved), once the daemon has opened.
    public func boundEndpoints(_ channel: some DaemonChannel) -> [String] { boundEndpoints(channel.rawValue) }
}
