/// The version of the API that generated code is written against. Every file zgen generates
/// names it, so code generated for another version of this runtime fails to compile (naming
/// this symbol) instead of compiling into something subtly different; a zgen release that keeps
/// the API keeps this version, and checked-in generated code goes on compiling.
public enum ZDaemonAPIVersion_2 {}

/// A daemon with typed channels and handlers: what zgen generates for each daemon of a schema,
/// a thin value around its ``Daemon`` (copies share the daemon). Everything that is the same for
/// every daemon — running, terminating, the loop, logger and handle, typed introspection, the
/// handler and hook wiring, timers that hand the daemon to their body — is here, once; the
/// generated type adds only what its schema says: its channels, spec, handlers and typed sends.
///
/// Handlers, hooks and timers get the daemon as a parameter, so none needs a capture list; the
/// daemon releases them when it has shut down (timers when its loop closes).
public protocol TypedDaemon: DaemonHosting {
    /// The daemon's channels, a case per channel in the spec's order.
    associatedtype Channel: DaemonChannel, CaseIterable
    /// The channel table the runtime opens.
    static var spec: DaemonSpec { get }
    /// The typed view of `daemon`, which must have been created from ``spec``.
    init(wrapping daemon: Daemon)
}

extension TypedDaemon {
    /// Records a deployment change of one channel in `configuration`, named so the compiler
    /// checks it: `MyWorker.override(.job, with: ChannelOverride(endpoints: […]), in: &configuration)`.
    /// It merges over what is there already (what `change` leaves `nil` stays), so changes made
    /// in code and those the process layer read from the configuration file combine.
    public static func override(_ channel: Channel, with change: ChannelOverride, in configuration: inout DaemonConfiguration) {
        let name = Self.spec.channels[channel.rawValue].name
        configuration.channels[name] = configuration.channels[name].map { $0.merging(change) } ?? change
    }

    // MARK: Running

    /// Stops the daemon (``Daemon/terminate()``); call it on the loop, from a handler, hook or
    /// timer. Other threads use ``handle``.
    public func terminate() { daemon.terminate() }

    /// Whether ``terminate()`` has been called.
    public var isTerminating: Bool { daemon.isTerminating }

    /// The daemon's event loop.
    public var loop: EventLoop { daemon.loop }

    /// The daemon's logger (metadata `title`; its messages name the daemon).
    public var logger: Logger { daemon.logger }

    /// The `Sendable` handle that posts work to the loop or terminates the daemon from any thread.
    public var handle: DaemonHandle { daemon.handle }

    // MARK: Hooks

    /// Runs `body` on the loop once every channel is open, before any message is handled: start
    /// timers or send a first message here. If it throws, ``run()`` fails with that error after
    /// closing the channels; nothing queued is handled (see ``Daemon/onStart(_:)``).
    public func onStart(_ body: @escaping (Self) throws -> Void) {
        daemon.onStart { [unowned(unsafe) daemon] in try body(Self(wrapping: daemon)) }
    }

    /// Runs `body` on the loop when the daemon terminates, after what was already queued has
    /// been handled and before the send queues flush, so what it sends still goes out. If it
    /// throws, ``run()`` fails with that error once the channels are closed (see
    /// ``Daemon/onWillTerminate(_:)``).
    public func onWillTerminate(_ body: @escaping (Self) throws -> Void) {
        daemon.onWillTerminate { [unowned(unsafe) daemon] in try body(Self(wrapping: daemon)) }
    }

    /// Hands every socket event (connected, accepted, disconnected, handshake failed, …) of
    /// `channels` to `handler`, on the loop. Registering observes those channels: a monitor
    /// socket each (``DaemonConfiguration/monitorSocketEvents`` observes every channel without
    /// a handler). Events are logged and counted either way; a thrown error is counted as a
    /// handler error of that channel. A later registration replaces an earlier one for the
    /// channels both name.
    public func onSocketEvent(_ channels: [Channel] = Array(Channel.allCases),
                              _ handler: @escaping (SocketEvent, Channel, Self) throws -> Void) {
        for channel in channels {
            daemon.onSocketEvent(channel) { [unowned(unsafe) daemon] event in
                try handler(event, channel, Self(wrapping: daemon))
            }
        }
    }

    // MARK: Timers and deferred work

    /// Runs `body` with the daemon once after `delay`, on the loop (``EventLoop/scheduleTask(in:name:_:)``).
    @discardableResult
    public func scheduleTask(in delay: Duration, name: String = "task", _ body: @escaping (Self) throws -> Void) -> Scheduled {
        daemon.loop.scheduleTask(in: delay, name: name) { [unowned daemon] in try body(Self(wrapping: daemon)) }
    }

    /// Runs `body` with the daemon after `initialDelay`, then again `delay` after each run ends
    /// (``EventLoop/scheduleRepeatedTask(initialDelay:delay:name:_:)``). The task is cancelled
    /// when the loop closes.
    @discardableResult
    public func scheduleRepeatedTask(initialDelay: Duration, delay: Duration, name: String = "repeated task",
                                     _ body: @escaping (Self) throws -> Void) -> RepeatedTask {
        daemon.loop.scheduleRepeatedTask(initialDelay: initialDelay, delay: delay, name: name) { [unowned daemon] in
            try body(Self(wrapping: daemon))
        }
    }

    /// Runs `body` with the daemon at the next loop iteration, after pending I/O.
    public func execute(_ body: @escaping (Self) -> Void) {
        daemon.loop.execute { [unowned daemon] in body(Self(wrapping: daemon)) }
    }

    // MARK: Wiring handlers (what generated initializers call)

    /// Decodes every message received on `channel` as `M`, straight from the receive buffers,
    /// and hands it to `handler` with the daemon. A message that does not decode is dropped
    /// (logged, counted); a thrown error is logged and counted as a handler error.
    @inlinable
    public func onMessage<M: FrameMessage>(_ channel: Channel, _ handler: @escaping (M, Self) throws -> Void) {
        // The runtime passes the daemon in: no capture, no reference-count traffic per message.
        daemon.onReceivedFrames(channel.rawValue) { frames, daemon in
            try handler(M(frames: frames), Self(wrapping: daemon))
        }
    }

    /// Hands each message received on `channel` to `handler` as its frames, borrowed from
    /// libzmq's receive buffers (valid during the call only), with the daemon: what generated
    /// daemons use for `"borrow": true` channels, whose handlers take the fields in place
    /// (``ReceivedFrames/withString(_:_:of:_:)`` and its siblings). A ``FrameDecodingError``
    /// drops the message (logged, counted); any other error counts as the handler's.
    @inlinable
    public func onFrames(_ channel: Channel, _ handler: @escaping (ReceivedFrames, Daemon) throws -> Void) {
        daemon.onReceivedFrames(channel.rawValue, handler)
    }

    /// Answers each `M` request on the REP `channel` with the `R` that `handler` returns; a
    /// handler that throws answers with a failure naming the error.
    @inlinable
    public func onRequest<M: FrameMessage, R: FrameMessage>(_ channel: Channel, _ handler: @escaping (M, Self) throws -> R) {
        onRequest(channel, declaring: Never.self, handler)
    }

    /// Answers each `M` request on the REP `channel` with the `R` that `handler` returns, or with
    /// the channel's declared error `E` when the handler throws one; any other error answers with
    /// a failure naming it.
    @inlinable
    public func onRequest<M: FrameMessage, R: FrameMessage, E: FrameMessage & Error>(
        _ channel: Channel, declaring errors: E.Type, _ handler: @escaping (M, Self) throws -> R
    ) {
        daemon.onRequestAnswering(channel.rawValue) { [unowned(unsafe) daemon] frames in
            do {
                return .reply(try handler(M(frames: frames), Self(wrapping: daemon)).encodeFrames())
            } catch let declared as E {
                return .error(try declared.encodeFrames())
            }
        }
    }

    /// Serves each `M` request on the ROUTER request `channel`: `handler` answers through the
    /// ``Responder`` (now or later, on the loop). A handler that throws before answering answers
    /// with the declared error `E` it threw, or with a failure naming any other error.
    @inlinable
    public func onCall<M: FrameMessage, R: FrameMessage, E: FrameMessage & Error>(
        _ channel: Channel, _ handler: @escaping (M, Responder<R, E>, Self) throws -> Void
    ) {
        let index = channel.rawValue
        daemon.onCall(index) { [unowned(unsafe) daemon] peer, correlation, frames in
            let responder = Responder<R, E>(daemon: daemon, channel: index, peer: peer, correlation: correlation)
            do {
                try handler(M(frames: frames), responder, Self(wrapping: daemon))
            } catch let declared as E where !responder.isAnswered {
                try responder.fail(declared)
            } catch where !responder.isAnswered {
                try? responder.fail(reason: Daemon.reason(for: error))
                throw error  // logged and counted, as a handler's error (or a malformed request)
            }
        }
    }

    /// Sends `request` on the DEALER request `channel` and hands its outcome to `completion` on
    /// the loop: the reply `R`, or a ``RequestFailure`` (the declared error `E`, a failure, or no
    /// reply within `timeout`, else the channel's `timeout`, else 5 s). A daemon that terminates
    /// first ends the request with a failure. Throws when it cannot be sent (``ChannelFullError``).
    @inlinable
    public func request<Q: FrameMessage, R: FrameMessage, E: FrameMessage & Error>(
        _ channel: Channel, _ request: Q, timeout: Duration? = nil,
        _ completion: @escaping (Result<R, RequestFailure<E>>, Self) -> Void
    ) throws {
        let name = Self.spec.channels[channel.rawValue].name
        try daemon.call(try request.encodeFrames(), on: channel.rawValue, timeout: timeout) { [unowned(unsafe) daemon] outcome in
            guard let outcome else {
                // The daemon shut down with the request in flight: the completion still learns it.
                return completion(.failure(.remote(RemoteFailure(reason: "\(Self.spec.name) terminated before the reply on \(name)"))),
                                  Self(wrapping: daemon))
            }
            let typed = outcome.typed(R.self, E.self)
            Self.countMalformed(typed, raw: outcome, on: channel.rawValue, daemon)
            completion(typed, Self(wrapping: daemon))
        }
    }

    /// Hands each `M` received on the ROUTER `channel` to `handler` with the peer it came from.
    @inlinable
    public func onRouted<M: FrameMessage>(_ channel: Channel, _ handler: @escaping (M, RoutingID, Self) throws -> Void) {
        daemon.onRouted(channel) { [unowned(unsafe) daemon] peer, frames in
            try handler(M(frames: frames), peer, Self(wrapping: daemon))
        }
    }

    /// Hands the outcome of each request sent on the REQ `channel` to `handler`: the `M` reply,
    /// or a ``RequestFailure`` (the declared error `E`, a failure, or the timeout after which the
    /// socket was reopened). A reply that does not decode is a failure (`malformed reply: …`).
    @inlinable
    public func onReply<M: FrameMessage, E: FrameMessage & Error>(
        _ channel: Channel, _ handler: @escaping (Result<M, RequestFailure<E>>, Self) throws -> Void
    ) {
        let index = channel.rawValue
        daemon.onReply(index) { [unowned(unsafe) daemon] outcome in
            let typed = outcome.typed(M.self, E.self)
            Self.countMalformed(typed, raw: outcome, on: index, daemon)
            try handler(typed, Self(wrapping: daemon))
        }
    }

    /// A reply the runtime took for an answer but that did not decode as the typed one is a
    /// failure: counted and logged.
    @inlinable
    static func countMalformed<R, E>(_ typed: Result<R, RequestFailure<E>>, raw: Result<[Frame], RequestFailure<[Frame]>>,
                                     on index: Int, _ daemon: Daemon) {
        switch (typed, raw) {
        case (.failure(.remote(let failure)), .success), (.failure(.remote(let failure)), .failure(.declared)):
            daemon.malformedReply(on: index, failure)
        default: break
        }
    }

    /// Streams the `M`s received on `channel` to async code instead of handing them to a handler
    /// (what a generated initializer does for a `"stream": true` channel): consumers iterate the
    /// returned ``InboundMessages``, here or from a ``DaemonClient`` (``DaemonClient/messages(_:as:)``).
    /// The buffer holds ``DaemonConfiguration/streamBuffer`` messages; when it is full the daemon
    /// stops reading the socket. A message that does not decode is dropped (logged, counted).
    @discardableResult
    public func streamMessages<M: FrameMessage>(_ channel: Channel, as type: M.Type = M.self) -> InboundMessages<M> {
        daemon.stream(channel.rawValue) { try M(frames: $0) }
    }

    // MARK: Introspection, by channel

    /// A channel's counters (received, sent, dropped, handlerErrors, refused).
    public func counters(_ channel: Channel) -> ChannelCounters { daemon.counters(channel) }

    /// A channel's effective spec (configuration overrides applied).
    public func channelSpec(_ channel: Channel) -> ChannelSpec { daemon.channelSpec(channel) }

    /// The endpoints a channel bound (wildcard ports resolved); empty for connects or before
    /// the channels are open.
    public func boundEndpoints(_ channel: Channel) -> [String] { daemon.boundEndpoints(channel) }

    /// Messages waiting in a channel's own send queue.
    public func queuedSends(_ channel: Channel) -> Int { daemon.queuedSends(channel) }

    /// Whether reading a channel is paused, by flow control (`drainedBy`) or a full stream buffer.
    public func isReceivePaused(_ channel: Channel) -> Bool { daemon.isReceivePaused(channel) }

    /// Live connections of an observed channel: connects and accepts minus disconnects.
    public func liveConnections(_ channel: Channel) -> Int { daemon.liveConnections(channel) }

    /// How many socket events of each kind an observed channel has seen.
    public func socketEventCounts(_ channel: Channel) -> [String: Int] { daemon.socketEventCounts(channel) }

    /// Whether a channel's socket events are observed (so that ``liveConnections(_:)`` means something).
    public func monitorsSocketEvents(_ channel: Channel) -> Bool { daemon.monitorsSocketEvents(channel) }

    /// The raw socket of a channel (`nil` when closed), for options and diagnostics; do not
    /// receive on it.
    public func socket(_ channel: Channel) -> Socket? { daemon.socket(channel) }
}
