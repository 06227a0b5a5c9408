import CZeroMQ
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The daemon base: a named set of channels on one event loop.
///
/// Not `Sendable`: a daemon, its sockets, handlers and their state live on the thread that
/// created it and runs it (``run()``), so handlers need no locks. Other threads talk to it only
/// through its ``handle`` (a ``DaemonHandle``: `execute {}`, `terminate()`, waiting).
///
/// Channels are referred to by index, their position in `spec.channels`. Register handlers
/// before ``run()``. A handler's ``FrameDecodingError`` drops the message (logged, counted as
/// `dropped`); any other error is logged and counted as a handler error; either way the loop
/// goes on.
public final class Daemon {
    private enum State { case created, open, running, closed }

    /// The daemon's declaration (as given; per-channel overrides are in ``channelSpec(_:)``).
    public let spec: DaemonSpec
    /// The deployment configuration, as given (a private context in it stays alive as long as
    /// the daemon object; the shared context is released at terminate).
    public let configuration: DaemonConfiguration
    /// The loop (loop-thread API: `execute`, `scheduleTask(in:)`, `scheduleRepeatedTask`).
    public let loop: EventLoop
    /// The `Sendable` handle for other threads: `execute {}`, `terminate()`, waiting.
    public let handle: DaemonHandle
    /// The daemon's logger: label = spec name, metadata `daemon` and `title`.
    public var logger: Logger

    /// The libzmq context the daemon's sockets live in; `nil` once the daemon has closed.
    @exclusivity(unchecked) public private(set) var context: ZMQContext?
    // What the daemon keeps of its configuration (not the whole value: that would keep the
    // context alive after terminate).
    private let linger: Duration
    private let blockingThreshold: Duration
    private let receiveBatch: Int
    private let terminateDrainLimit: Int
    @exclusivity(unchecked) private var channels: [Channel]
    private var startHandlers: [() throws -> Void] = []
    @exclusivity(unchecked) private var state = State.created
    @exclusivity(unchecked) private var terminating = false
    /// ZAP policies of the CURVE server channels, by channel index (kept across socket reopens,
    /// cancelled at shutdown before the context is released).
    private var zapRegistrations: [Int: ZAPRegistration] = [:]

    /// Creates a daemon (on the thread that will run it). Throws when the configuration names
    /// a channel the spec does not have.
    public init(spec: DaemonSpec, configuration: DaemonConfiguration = DaemonConfiguration()) throws {
        self.spec = spec
        self.configuration = configuration
        linger = configuration.linger
        blockingThreshold = configuration.blockingThreshold
        receiveBatch = max(1, configuration.receiveBatch)
        terminateDrainLimit = configuration.terminateDrainLimit
        var logger = configuration.makeLogger(spec.name)
        logger[metadataKey: "daemon"] = .string(spec.name)
        logger[metadataKey: "title"] = .string(configuration.title ?? spec.title)
        for (key, value) in configuration.metadata { logger[metadataKey: key] = value }
        self.logger = logger
        let names = Set(spec.channels.map(\.name))
        for name in configuration.channels.keys.sorted() where !names.contains(name) {
            throw ZDaemonError("configuration names unknown channel '\(name)' of \(spec.name)")
        }
        let defaultLinger = Int32(clamping: configuration.linger.milliseconds)
        channels = spec.channels.enumerated().map { index, declared in
            let effective = configuration.channels[declared.name]?.applied(to: declared) ?? declared
            return Channel(index: index, spec: effective, linger: effective.linger ?? defaultLinger,
                           daemon: spec.name, metricsPrefix: configuration.metricsPrefix,
                           metricsFactory: configuration.metricsFactory)
        }
        try Daemon.linkFlowControl(channels, daemon: spec.name)
        // A CURVE channel without CURVE support or without its keys fails here, at start-up.
        for channel in channels where channel.spec.security == .curve {
            try CurveSupport.require(for: "\(spec.name) channel \(channel.spec.name)")
            guard let security = configuration.security else {
                throw SecurityConfigurationError(CurveChannel.unconfigured(daemon: spec.name, channel: channel.spec.name,
                                                                            isServer: channel.spec.isCurveServer))
            }
            _ = try security.role(forChannel: channel.spec.name, daemon: spec.name, isServer: channel.spec.isCurveServer)
        }
        context = try configuration.context ?? ZMQContext.shared()
        loop = try EventLoop(clock: configuration.clock, logger: logger)
        handle = DaemonHandle(name: spec.name, loop: loop.handle, channelCount: spec.channels.count)
        handle.attach(self)
        loop.afterIteration = { [unowned self] in
            for channel in channels where channel.metricsDirty { channel.reportMetrics() }
        }
    }

    deinit {
        for channel in channels { closeSocket(of: channel) }
    }

    /// Resolves `drainedBy` / `drains` names into channel links (both spellings accepted; zgen
    /// checks that they agree).
    private static func linkFlowControl(_ channels: [Channel], daemon: String) throws {
        func find(_ name: String, from channel: Channel, key: String) throws -> Channel {
            guard let found = channels.first(where: { $0.spec.name == name }) else {
                throw ZDaemonError("\(daemon) channel \(channel.spec.name): \(key) names unknown channel '\(name)'")
            }
            return found
        }
        for channel in channels {
            if let name = channel.spec.drainedBy {
                let output = try find(name, from: channel, key: "drainedBy")
                guard channel.spec.socket.canReceive, output.spec.socket.canSend else {
                    throw ZDaemonError("\(daemon) channel \(channel.spec.name): drainedBy needs a receiving channel drained by a sending one")
                }
                channel.drainedBy = output
            }
            if let name = channel.spec.drains {
                let input = try find(name, from: channel, key: "drains")
                guard input.spec.socket.canReceive, channel.spec.socket.canSend else {
                    throw ZDaemonError("\(daemon) channel \(channel.spec.name): drains needs a sending channel draining a receiving one")
                }
                input.drainedBy = channel
            }
        }
        for channel in channels {
            if let output = channel.drainedBy { output.gatedInputs.append(channel) }
        }
    }

    // MARK: Handlers

    private func channel(_ index: Int, _ use: String) -> Channel {
        precondition(channels.indices.contains(index), "\(spec.name) has no channel #\(index) (\(use))")
        return channels[index]
    }

    /// Handles every message received on a channel (PULL, SUB, XSUB, XPUB, PAIR, DEALER, or a
    /// ROUTER when the raw envelope is wanted).
    public func onReceive(_ channel: Int, _ handler: @escaping ([Frame]) throws -> Void) {
        let channel = self.channel(channel, "onReceive")
        precondition(channel.spec.socket.canReceive, "onReceive: channel \(channel.spec.name) is a \(channel.spec.socket.rawValue) socket, it receives nothing")
        precondition(channel.spec.socket != .rep && channel.spec.socket != .req,
                     "onReceive: channel \(channel.spec.name) is \(channel.spec.socket.rawValue); use \(channel.spec.socket == .rep ? "onRequest" : "onReply")")
        channel.handler = .receive(handler)
    }

    /// Like ``onReceive(_:_:)``, but the handler gets the frames borrowed from libzmq's receive
    /// buffers (``ReceivedFrames``, valid only during the call) instead of a `[Frame]` copy:
    /// the fastest path, used by generated daemons that decode straight into typed messages.
    public func onReceiveBorrowed(_ channel: Int, _ handler: @escaping (ReceivedFrames) throws -> Void) {
        let channel = self.channel(channel, "onReceiveBorrowed")
        precondition(channel.spec.socket.canReceive, "onReceive: channel \(channel.spec.name) is a \(channel.spec.socket.rawValue) socket, it receives nothing")
        precondition(channel.spec.socket != .rep && channel.spec.socket != .req,
                     "onReceive: channel \(channel.spec.name) is \(channel.spec.socket.rawValue); use \(channel.spec.socket == .rep ? "onRequest" : "onReply")")
        channel.handler = .receiveBorrowed(handler)
    }

    /// Handles requests on a REP channel; the returned frames are the reply. If the handler
    /// throws, an empty one-frame reply is sent so the REP socket can take the next request.
    public func onRequest(_ channel: Int, _ handler: @escaping ([Frame]) throws -> [Frame]) {
        let channel = self.channel(channel, "onRequest")
        precondition(channel.spec.socket == .rep, "onRequest needs a REP channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .request(handler)
    }

    /// Handles messages on a ROUTER channel with the envelope stripped. Both peer shapes are
    /// understood: DEALER (id, body…) and REQ (id, empty delimiter, body…); replies through
    /// ``send(_:on:to:)`` use the shape the peer last used.
    public func onRouted(_ channel: Int, _ handler: @escaping (RoutingID, [Frame]) throws -> Void) {
        let channel = self.channel(channel, "onRouted")
        precondition(channel.spec.socket == .router, "onRouted needs a ROUTER channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .routed(handler)
    }

    /// Handles the reply (or the ``RequestTimeout``) to the last request sent on a REQ channel.
    public func onReply(_ channel: Int, _ handler: @escaping (Result<[Frame], RequestTimeout>) throws -> Void) {
        let channel = self.channel(channel, "onReply")
        precondition(channel.spec.socket == .req, "onReply needs a REQ channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .reply(handler)
    }

    /// Observes a channel's socket events (connected, accepted, disconnected, handshake
    /// failures, ...) through libzmq's monitor; they are also logged and counted. Call before
    /// ``open()``/``run()``. A thrown error is logged and counted as a handler error.
    public func onSocketEvent(_ channel: Int, _ handler: @escaping (SocketEvent) throws -> Void) {
        self.channel(channel, "onSocketEvent").eventHandler = handler
    }

    /// Live connections of a monitored channel: connects and accepts minus disconnects.
    public func liveConnections(_ channel: Int) -> Int {
        self.channel(channel, "liveConnections").liveConnections
    }

    /// How many socket events of each kind (`connected`, `accepted`, `disconnected`, ...) a
    /// monitored channel has seen.
    public func socketEventCounts(_ channel: Int) -> [String: Int] {
        self.channel(channel, "socketEventCounts").eventCounts
    }

    /// Runs `body` on the loop once all channels are open, before any message is handled.
    public func onStart(_ body: @escaping () throws -> Void) {
        startHandlers.append(body)
    }

    // MARK: Introspection

    /// A channel's counters (received, sent, dropped, handlerErrors).
    public func counters(_ channel: Int) -> ChannelCounters {
        self.channel(channel, "counters").counters
    }

    /// A channel's effective spec (configuration overrides applied).
    public func channelSpec(_ channel: Int) -> ChannelSpec {
        self.channel(channel, "channelSpec").spec
    }

    /// The index of the channel called `name`, if any.
    public func channelIndex(named name: String) -> Int? {
        channels.firstIndex { $0.spec.name == name }
    }

    /// The endpoints a channel actually bound (wildcard ports resolved); empty for connects
    /// or before ``open()``.
    public func boundEndpoints(_ channel: Int) -> [String] {
        self.channel(channel, "boundEndpoints").boundEndpoints
    }

    /// Messages waiting in a channel's own send queue (the socket could not take them yet).
    public func queuedSends(_ channel: Int) -> Int {
        self.channel(channel, "queuedSends").pendingCount
    }

    /// Whether a channel's socket events are observed (``DaemonConfiguration/monitorSocketEvents``
    /// or an ``onSocketEvent(_:_:)`` handler), so that ``liveConnections(_:)`` means something.
    public func monitorsSocketEvents(_ channel: Int) -> Bool {
        self.channel(channel, "monitorsSocketEvents").monitor != nil
    }

    /// Whether reading a channel is paused because the channel that drains it (`drainedBy`)
    /// has its send queue backed up (see ``queuedSends(_:)``).
    public func isReceivePaused(_ channel: Int) -> Bool {
        self.channel(channel, "isReceivePaused").paused
    }

    /// The raw socket of a channel (`nil` when closed). For options and diagnostics; do not
    /// receive on it.
    public func socket(_ channel: Int) -> Socket? {
        self.channel(channel, "socket").socket
    }

    // MARK: Lifecycle

    /// Opens every channel (creates, configures, binds/connects and registers the sockets).
    /// Called by ``run()``; call it earlier to learn bound endpoints or to fail fast. On
    /// failure every socket opened so far is closed again.
    public func open() throws {
        guard state == .created else {
            if state == .closed { throw ZDaemonError("\(spec.name) is closed") }
            return
        }
        do {
            for channel in channels { try openSocket(of: channel) }
        } catch {
            for channel in channels { closeSocket(of: channel) }
            for registration in zapRegistrations.values { registration.cancel() }
            zapRegistrations = [:]
            throw error
        }
        state = .open
        handle.publishEndpoints(channels.map(\.boundEndpoints))
    }

    private func openSocket(of channel: Channel) throws {
        guard let context else { throw ZDaemonError("\(spec.name) has released its context") }
        let spec = channel.spec
        let socket = try Socket(spec.socket, context: context, linger: channel.linger, name: spec.name)
        do {
            func set(_ option: SocketOption) throws {
                do {
                    try socket.setOption(option)
                } catch let error as ZDaemonError {
                    throw ZDaemonError("channel \(spec.name): \(error.message)")
                }
            }
            if spec.security == .curve {
                // Before the monitor, bind and connect: CURVE options apply at connection time.
                var registration = zapRegistrations[channel.index]
                try CurveChannel.secure(socket, daemon: self.spec.name, channel: spec.name, isServer: spec.isCurveServer,
                                        security: configuration.security, registration: &registration, logger: logger)
                zapRegistrations[channel.index] = registration
            }
            if configuration.monitorSocketEvents || channel.eventHandler != nil || spec.security == .curve {
                // Before bind/connect, so `listening`/`connected` are seen too.
                let monitor = try SocketMonitor(socket)
                channel.monitor = monitor
                channel.monitorRegistration = loop.register(monitor.socket, events: .readable,
                                                            name: "channel \(spec.name) events") { [unowned self, unowned channel] _ in
                    self.socketEvents(channel)
                }
            }
            if spec.socket.canSend { try set(.sendHWM(spec.hwm)) }
            if spec.socket.canReceive { try set(.receiveHWM(spec.hwm)) }
            for option in spec.options.socketOptions { try set(option) }
            if spec.socket != .xsub {  // on anything but SUB, this throws the "does not apply" error
                for prefix in spec.subscribe { try set(.subscribe(Array(prefix.utf8))) }
            }
            var bound: [String] = []
            for endpoint in spec.endpoints {
                if spec.bind { bound.append(try socket.bind(endpoint)) } else { try socket.connect(endpoint) }
            }
            if spec.socket == .xsub {
                // XSUB subscribes by message (0x01 + prefix). libzmq remembers each subscription
                // and sends it to every publisher that connects later, so once is enough.
                for prefix in spec.subscribe { _ = try socket.send([[1] + Array(prefix.utf8)], dontWait: true) }
            }
            channel.boundEndpoints = bound
        } catch {
            // A failed bind or connect has already been reported to the monitor: deliver it
            // (logged, counted, handler) before the monitor goes.
            if channel.monitor != nil { socketEvents(channel) }
            stopMonitor(of: channel)
            socket.close(linger: 0)
            throw error
        }
        channel.socket = socket
        channel.registration = loop.register(socket, events: spec.socket.canReceive ? .readable : [],
                                             name: "channel \(spec.name)") { [unowned self, unowned channel] events in
            self.service(channel, events)
        }
    }

    private func stopMonitor(of channel: Channel) {
        if let registration = channel.monitorRegistration { loop.unregister(registration) }
        channel.monitorRegistration = nil
        channel.monitor?.stop()
        channel.monitor = nil
    }

    private func socketEvents(_ channel: Channel) {
        guard let monitor = channel.monitor else { return }
        var handled = 0
        while handled < 256, let event = try? monitor.next(dontWait: true) {
            handled += 1
            channel.eventCounts[Self.kind(of: event), default: 0] += 1
            switch event {
            case .connected, .accepted: channel.liveConnections += 1
            case .disconnected: channel.liveConnections = max(0, channel.liveConnections - 1)
            default: break
            }
            if event.isFailure {
                logger.warning("\(spec.name): channel \(channel.spec.name): \(event)")
            } else if case .disconnected = event {
                logger.info("\(spec.name): channel \(channel.spec.name): \(event)")
            } else {
                logger.debug("\(spec.name): channel \(channel.spec.name): \(event)")
            }
            if let handler = channel.eventHandler {
                do { try handler(event) } catch { handlerFailed(channel, error) }
            }
        }
    }

    private static func kind(of event: SocketEvent) -> String {
        switch event {
        case .listening: "listening"
        case .bindFailed: "bindFailed"
        case .accepted: "accepted"
        case .acceptFailed: "acceptFailed"
        case .connected: "connected"
        case .connectDelayed: "connectDelayed"
        case .connectRetried: "connectRetried"
        case .closed: "closed"
        case .closeFailed: "closeFailed"
        case .disconnected: "disconnected"
        case .handshakeSucceeded: "handshakeSucceeded"
        case .handshakeFailedNoDetail: "handshakeFailedNoDetail"
        case .handshakeFailedProtocol: "handshakeFailedProtocol"
        case .handshakeFailedAuthentication: "handshakeFailedAuthentication"
        case .monitorStopped: "monitorStopped"
        }
    }

    private func closeSocket(of channel: Channel, linger: Int32? = nil) {
        stopMonitor(of: channel)
        if let registration = channel.registration { loop.unregister(registration) }
        channel.registration = nil
        channel.socket?.close(linger: linger ?? channel.linger)
        channel.socket = nil
        channel.replyTimer?.cancel()
        channel.replyTimer = nil
    }

    /// Opens the channels, logs `<Name> has begun processing messages`, runs the loop on the
    /// calling thread until ``terminate()`` (or context termination), then shuts down: handles
    /// what is already queued, flushes sends within the linger, closes the sockets and
    /// releases the context. Blocks the calling thread.
    public func run() throws {
        guard state == .created || state == .open else { throw ZDaemonError("\(spec.name) has already run") }
        var failure: (any Error)?
        do {
            try open()
            state = .running
            let watchdog = Watchdog(activity: loop.activity, threshold: blockingThreshold,
                                    logger: logger, name: spec.name)
            watchdog.start()
            defer { watchdog.stop() }
            logger.info("\(spec.name) has begun processing messages")
            handle.markStarted()
            if !terminating {
                loop.execute { [unowned self] in
                    loop.activity.begin(loop.activity.label("onStart"))  // for the watchdog
                    for body in startHandlers {
                        do { try body() } catch { logger.error("onStart of \(spec.name) failed: \(error)") }
                    }
                }
                try loop.run()
                if !terminating {
                    // The loop ended on its own: the context was shut down (ETERM).
                    terminating = true
                    logger.info("\(spec.name) is terminating (context shut down)")
                }
            }
        } catch {
            failure = error
            logger.error("\(spec.name) stopped: \(error)")
        }
        shutdown()
        handle.markFinished(failure)
        if let failure { throw failure }
    }

    /// Stops the daemon: logs `<Name> is terminating` and ends the loop; ``run()`` then handles
    /// the messages already waiting, flushes pending sends (bounded by the linger), closes the
    /// sockets and releases the context. Call it from a handler or timer; from another thread
    /// use ``DaemonHandle/terminate()``. Calling it again has no effect.
    public func terminate() {
        guard !terminating, state != .closed else { return }
        terminating = true
        logger.info("\(spec.name) is terminating")
        loop.stop()
    }

    /// Whether ``terminate()`` has been called.
    public var isTerminating: Bool { terminating }

    private func shutdown() {
        guard state != .closed else { return }
        terminating = true  // also when the loop ended with an error: drain ignores pauses
        let clock = SystemClock()
        let deadline = clock.now() + linger
        // 1. What already reached the process is handled (non-blocking, bounded).
        if state == .running {
            for channel in channels where channel.spec.socket.canReceive && channel.socket != nil {
                var handled = 0
                while handled < terminateDrainLimit {
                    let taken = drain(channel, limit: 64)
                    handled += taken
                    if taken < 64 || clock.now() >= deadline { break }
                }
            }
            loop.runPendingTasks()
        }
        // 2. Flush the runtime's send queues within the linger.
        while clock.now() < deadline {
            let waiting = channels.filter { $0.pendingCount > 0 && $0.socket != nil }
            if waiting.isEmpty { break }
            var items = waiting.map {
                zmq_pollitem_t(socket: $0.socket!.handle, fd: 0, events: Int16(ZMQ_POLLOUT), revents: 0)
            }
            let timeout = Int((deadline - clock.now()).milliseconds)
            let count = Int32(items.count)
            if zmq_poll(&items, count, max(timeout, 0)) < 0 && zmq_errno() != EINTR { break }
            for (index, channel) in waiting.enumerated() where items[index].revents != 0 { flush(channel) }
        }
        for channel in channels where channel.pendingCount > 0 {
            logger.warning("\(spec.name): \(channel.pendingCount) unsent messages on \(channel.spec.name) dropped at terminate")
            channel.counters.dropped += channel.pendingCount
            channel.clearPending()
        }
        // 3. Close the sockets (libzmq keeps delivering what it holds for the linger), then
        // release the context: the last owner terminates it.
        for channel in channels {
            closeSocket(of: channel)
            channel.reportMetrics()
        }
        for registration in zapRegistrations.values { registration.cancel() }
        zapRegistrations = [:]
        context = nil
        loop.close()
        state = .closed
    }

    // MARK: Receiving

    private func service(_ channel: Channel, _ events: PollEvents) {
        if events.contains(.writable) { flush(channel) }
        if events.contains(.readable) { _ = drain(channel, limit: receiveBatch) }
    }

    /// Receives and dispatches up to `limit` waiting messages without blocking.
    private func drain(_ channel: Channel, limit: Int) -> Int {
        // A REQ socket has nothing to receive unless a request is out (receiving would fail).
        if channel.spec.socket == .req && !channel.awaitingReply { return 0 }
        // The common case (plain receive handler) gets a tight loop: no per-message enum
        // dispatch or closure copy.
        let fastHandler: (([Frame]) throws -> Void)?
        if case .receive(let handler) = channel.handler { fastHandler = handler } else { fastHandler = nil }
        guard let socket = channel.socket else { return 0 }
        if case .receiveBorrowed(let handler) = channel.handler {
            return drainBorrowed(channel, socket, handler, limit: limit)
        }
        var count = 0
        // `channel.socket === socket`: a handler may have caused the socket to be replaced.
        while count < limit, !channel.paused || terminating, channel.socket === socket {
            do {
                guard try socket.receive(into: &channel.frames, dontWait: true) else { break }
            } catch let error as ZMQError {
                if error.isContextTerminated {
                    loop.stop()
                } else {
                    logger.error("\(spec.name): \(error)")
                }
                break
            } catch {
                logger.error("\(spec.name): \(error)")
                break
            }
            count += 1
            if let fastHandler {
                channel.counters.received += 1
                do { try fastHandler(channel.frames) } catch { handlerFailed(channel, error) }
                continue
            }
            deliver(channel)
            // A REQ socket holds at most one reply; receiving again would fail (EFSM).
            if channel.spec.socket == .req { break }
        }
        return count
    }

    /// The fastest receive loop: frames stay in libzmq's buffers and the handler decodes them
    /// in place; the counter is a plain integer (reported to swift-metrics once per iteration).
    private func drainBorrowed(_ channel: Channel, _ socket: Socket, _ handler: (ReceivedFrames) throws -> Void,
                               limit: Int) -> Int {
        var count = 0
        while count < limit, !channel.paused || terminating, channel.socket === socket {
            let frames: ReceivedFrames
            do {
                guard let next = try socket.receiveBorrowed(dontWait: true) else { break }
                frames = next
            } catch let error as ZMQError {
                if error.isContextTerminated {
                    loop.stop()
                } else {
                    logger.error("\(spec.name): \(error)")
                }
                break
            } catch {
                logger.error("\(spec.name): \(error)")
                break
            }
            count += 1
            channel.counters.received += 1
            do { try handler(frames) } catch { handlerFailed(channel, error) }
        }
        return count
    }

    private func deliver(_ channel: Channel) {
        channel.counters.received += 1
        let frames = channel.frames
        do {
            switch channel.handler {
            case .receive(let handler):
                try handler(frames)
            case .receiveBorrowed:
                preconditionFailure("borrowed receive handlers are served by drainBorrowed")
            case .request(let handler):
                let reply = try handler(frames)
                try sendNow(reply, on: channel)
            case .routed(let handler):
                guard frames.count >= 2 else {
                    drop(channel, "message without a body from \(frames.first.map { RoutingID($0) }?.description ?? "?")")
                    return
                }
                let id = frames[0]
                let body: [Frame]
                if frames[1].isEmpty {
                    channel.delimitedPeers.insert(id)
                    body = Array(frames[2...])
                } else {
                    if !channel.delimitedPeers.isEmpty { channel.delimitedPeers.remove(id) }
                    body = Array(frames[1...])
                }
                try handler(RoutingID(id), body)
            case .reply(let handler):
                guard channel.awaitingReply else {
                    drop(channel, "unexpected reply")
                    return
                }
                channel.awaitingReply = false
                channel.replyTimer?.cancel()
                channel.replyTimer = nil
                try handler(.success(frames))
            case .none:
                // An XPUB without a handler just lets libzmq act on subscriptions.
                if channel.spec.socket != .xpub { drop(channel, "no handler") }
            }
        } catch {
            handlerFailed(channel, error)
            if case .request = channel.handler {
                // A REP socket must answer before it can receive again.
                _ = try? channel.socket?.send([[]], dontWait: true)
            }
        }
    }

    private func drop(_ channel: Channel, _ why: String) {
        channel.counters.dropped += 1
        logger.warning("\(spec.name): dropped message on \(channel.spec.name): \(why)")
    }

    private func handlerFailed(_ channel: Channel, _ error: any Error) {
        if let error = error as? FrameDecodingError {
            channel.counters.dropped += 1
            logger.warning("\(spec.name): dropped malformed message on \(channel.spec.name): \(error)")
        } else {
            channel.counters.handlerErrors += 1
            logger.error("\(spec.name): handler for \(channel.spec.name) failed: \(error)")
        }
    }

    // MARK: Sending

    /// Sends a multipart message on a channel (not ROUTER: use ``send(_:on:to:)``; not REP:
    /// the ``onRequest(_:_:)`` handler returns the reply). Never blocks the loop: when the
    /// socket cannot take it now, the message waits in the channel's queue (bounded by the
    /// spec's `queue`, else ``ChannelFullError``) and goes out when the socket is writable.
    /// On REQ, a second request before the reply (or timeout) throws.
    public func send(_ frames: [Frame], on channel: Int) throws {
        let channel = self.channel(channel, "send")
        switch channel.spec.socket {
        case .router:
            throw ZDaemonError("channel \(channel.spec.name) is a ROUTER socket: send with send(_:on:to:)")
        case .rep:
            throw ZDaemonError("channel \(channel.spec.name) is a REP socket: its onRequest handler returns the reply")
        case .pull, .sub:
            throw ZDaemonError("channel \(channel.spec.name) is a \(channel.spec.socket.rawValue) socket: it cannot send")
        case .req:
            guard !channel.awaitingReply else {
                throw ZDaemonError("REQ channel \(channel.spec.name): cannot send a new request before the reply to the previous one (or its timeout)")
            }
            try enqueueOrSend(frames, on: channel)
            channel.awaitingReply = true
            if let timeout = channel.spec.timeout {
                channel.replyTimer = loop.scheduleTask(in: .milliseconds(timeout), name: "\(channel.spec.name) reply timeout") {
                    [unowned self, unowned channel] in self.replyTimedOut(channel, milliseconds: timeout)
                }
            }
        default:
            try enqueueOrSend(frames, on: channel)
        }
    }

    /// Sends `frames` to one ROUTER peer, wrapped in the envelope shape the peer used.
    public func send(_ frames: [Frame], on channel: Int, to peer: RoutingID) throws {
        let channel = self.channel(channel, "send(to:)")
        guard channel.spec.socket == .router else {
            throw ZDaemonError("channel \(channel.spec.name) is a \(channel.spec.socket.rawValue) socket: send(_:on:to:) needs a ROUTER")
        }
        var message: [Frame] = [peer.bytes]
        message.reserveCapacity(frames.count + 2)
        if channel.delimitedPeers.contains(peer.bytes) { message.append([]) }
        message.append(contentsOf: frames)
        try enqueueOrSend(message, on: channel)
    }

    private func sendNow(_ frames: [Frame], on channel: Channel) throws {
        guard let socket = channel.socket else { throw ZDaemonError("channel \(channel.spec.name) is closed") }
        try socket.send(frames)
        channel.counters.sent += 1
    }

    private func enqueueOrSend(_ frames: [Frame], on channel: Channel) throws {
        guard let socket = channel.socket else { throw ZDaemonError("channel \(channel.spec.name) is not open") }
        if channel.pendingCount == 0 {
            let sent: Bool
            do {
                sent = try socket.send(frames, dontWait: true)
            } catch {
                // e.g. EHOSTUNREACH: a ROUTER with routerMandatory and no such peer.
                channel.counters.refused += 1
                throw error
            }
            if sent {
                channel.counters.sent += 1
                return
            }
        }
        guard channel.pendingCount < channel.spec.queue else {
            channel.counters.refused += 1
            throw ChannelFullError(channel: channel.spec.name, queued: channel.pendingCount)
        }
        channel.enqueue(frames)
        if !channel.gatedInputs.isEmpty && channel.pendingCount >= channel.pauseThreshold {
            for input in channel.gatedInputs where !input.paused { setPaused(input, true, by: channel) }
        }
        if let registration = channel.registration {
            loop.update(registration, events: registration.events.union(.writable))
        }
    }

    private func flush(_ channel: Channel) {
        guard let socket = channel.socket else { return }
        while channel.pendingCount > 0 {
            do {
                guard try socket.send(channel.firstPending, dontWait: true) else { break }
                channel.counters.sent += 1
            } catch {
                logger.error("\(spec.name): send on \(channel.spec.name) failed: \(error)")
                channel.counters.dropped += 1
            }
            channel.dequeue()
        }
        if !channel.gatedInputs.isEmpty && channel.belowResumeThreshold() {
            for input in channel.gatedInputs where input.paused { setPaused(input, false, by: channel) }
        }
        if channel.pendingCount == 0, let registration = channel.registration {
            loop.update(registration, events: registration.events.subtracting(.writable))
        }
    }

    /// Stops (or restarts) reading `input` while `output`'s send queue is backed up.
    private func setPaused(_ input: Channel, _ paused: Bool, by output: Channel) {
        input.paused = paused
        logger.info("\(paused ? "Pausing" : "Resuming") receive on: \(input.spec.name) (Buffered: \(output.pendingCount), HWM: \(output.spec.queue))")
        guard let registration = input.registration else { return }
        let events = paused ? registration.events.subtracting(.readable) : registration.events.union(.readable)
        loop.update(registration, events: events)
    }

    private func replyTimedOut(_ channel: Channel, milliseconds: Int) {
        guard channel.awaitingReply else { return }
        channel.awaitingReply = false
        channel.replyTimer = nil
        logger.warning("\(spec.name): no reply on \(channel.spec.name) within \(milliseconds) ms, reopening the socket")
        channel.clearPending()
        closeSocket(of: channel, linger: 0)
        do {
            try openSocket(of: channel)
        } catch {
            logger.error("\(spec.name): reopening \(channel.spec.name) failed: \(error)")
        }
        if case .reply(let handler) = channel.handler {
            do {
                try handler(.failure(RequestTimeout(channel: channel.spec.name, milliseconds: milliseconds)))
            } catch {
                handlerFailed(channel, error)
            }
        }
    }
}
