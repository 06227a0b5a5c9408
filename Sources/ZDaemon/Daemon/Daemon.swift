import CZeroMQ
import Logging

/// The daemon base: a named set of channels on one event loop.
///
/// Not `Sendable`: a daemon, its sockets, handlers and their state live on the thread that
/// created it and runs it (``run()``), so handlers need no locks. Other threads talk to it only
/// through its ``handle`` (a ``DaemonHandle``: `execute {}`, `terminate()`, waiting).
///
/// Channels are named by a ``DaemonChannel`` type, whose raw values are the channels' positions
/// in `spec.channels` (a generated daemon nests one, `Channel`). Register handlers before
/// ``run()``. A handler's ``FrameDecodingError`` drops the message (logged, counted as
/// `dropped`); any other error is logged and counted as a handler error; either way the loop
/// goes on. A start handler (``onStart(_:)``) is different: its error fails ``run()``.
///
/// The class is split by concern: receiving and dispatch (`DaemonReceive.swift`), REP
/// (`DaemonReply.swift`), REQ and its timeout (`DaemonRequest.swift`), ROUTER envelopes
/// (`DaemonRouter.swift`), the send queue and flow control (`DaemonSendQueue.swift`), socket
/// events (`DaemonMonitoring.swift`), opening channels and shutdown (`DaemonLifecycle.swift`).
public final class Daemon {
    enum State { case created, open, running, closed }

    /// The daemon's declaration (as given; per-channel overrides are in ``channelSpec(_:)``).
    public let spec: DaemonSpec
    /// The deployment configuration, as given (a private context in it stays alive as long as
    /// the daemon object; the shared context is released at terminate).
    public let configuration: DaemonConfiguration
    /// The loop (loop-thread API: `execute`, `scheduleTask(in:)`, `scheduleRepeatedTask`).
    public let loop: EventLoop
    /// The `Sendable` handle for other threads: `execute {}`, `terminate()`, waiting.
    public let handle: DaemonHandle
    /// The daemon's logger: label = the spec's app, metadata `title`; messages name the daemon.
    public var logger: Logger

    /// The libzmq context the daemon's sockets live in; `nil` once the daemon has closed.
    @exclusivity(unchecked) public internal(set) var context: ZMQContext?
    // What the daemon keeps of its configuration (not the whole value: that would keep the
    // context alive after terminate).
    let linger: Duration
    let shutdownTimeout: Duration
    let blockingThreshold: Duration
    let receiveBatch: Int
    let terminateDrainLimit: Int
    let streamBuffer: Int
    @exclusivity(unchecked) var channels: [Channel]
    /// What the handle holds weakly (not the daemon: see ``DaemonHandle``).
    let lifetime = DaemonLifetime()
    var startHandlers: [() throws -> Void] = []
    var willTerminateHandlers: [() throws -> Void] = []
    @exclusivity(unchecked) var state = State.created
    @exclusivity(unchecked) var terminating = false
    /// Set once the phased shutdown runs (its draining is bounded by its own deadline).
    @exclusivity(unchecked) var shuttingDown = false
    /// The security provider's sessions of the secured channels, by channel index (kept across
    /// socket reopens, closed at shutdown before the context is released).
    var securitySessions: [Int: any ChannelSecuritySession] = [:]
    /// Summarises repeated per-message log lines (malformed, oversized, handler errors).
    lazy var repeatedLog = RepeatedLog(daemon: spec.name, loop: loop)

    /// Creates a daemon (on the thread that will run it). Throws when the configuration names
    /// a channel the spec does not have, or when a secured channel cannot be secured.
    public init(spec: DaemonSpec, configuration: DaemonConfiguration = DaemonConfiguration()) throws {
        self.spec = spec
        self.configuration = configuration
        linger = configuration.linger
        shutdownTimeout = configuration.shutdownTimeout
        blockingThreshold = configuration.blockingThreshold
        receiveBatch = max(1, configuration.receiveBatch)
        terminateDrainLimit = configuration.terminateDrainLimit
        streamBuffer = max(1, configuration.streamBuffer)
        // The label is the app, not the daemon: the messages name the daemon (the seed's
        // "<Name> has begun processing messages"), and a line should name it once.
        var logger = configuration.makeLogger(spec.app)
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
        // A secured channel that cannot be secured fails here, at start-up.
        for channel in channels where channel.spec.security != .none {
            guard let security = configuration.security else {
                throw SecurityConfigurationError(channel.spec.security.unconfiguredMessage(
                    daemon: spec.name, channel: channel.spec.name, isServer: channel.spec.isCurveServer))
            }
            try security.check(channel.spec, daemon: spec.name)
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
        // Posted work that still runs finds no daemon; a client call that waits (posted, or for
        // room) fails instead of hanging (see DaemonHandle.submit).
        handle.detach()
        handle.finishStreams(nil)  // a daemon freed without running: its streams end
        for channel in channels {
            let waiters = channel.spaceWaiters
            channel.spaceWaiters = []
            for waiter in waiters { waiter(nil) }
            closeSocket(of: channel)
        }
    }

    /// Whether the daemon has shut down (its channels are closed).
    var isClosed: Bool { state == .closed }

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

    /// The channel at `index`; a wrong index is a programming error naming the call.
    func channel(_ index: Int, _ use: String) -> Channel {
        precondition(channels.indices.contains(index), "\(spec.name) has no channel #\(index) (\(use))")
        return channels[index]
    }

    // MARK: Handlers

    /// Handles every message received on a channel (PULL, SUB, XSUB, XPUB, PAIR, DEALER, or a
    /// ROUTER when the raw envelope is wanted).
    @usableFromInline package func onReceive(_ channel: Int, _ handler: @escaping ([Frame]) throws -> Void) {
        receivingChannel(channel, "onReceive").handler = .receive(handler)
    }

    /// Like ``onReceive(_:_:)``, but the handler gets the frames borrowed from libzmq's receive
    /// buffers (``ReceivedFrames``, valid only during the call) instead of a `[Frame]` copy:
    /// the fastest path, used by generated daemons that decode straight into typed messages.
    @usableFromInline package func onReceiveBorrowed(_ channel: Int, _ handler: @escaping (ReceivedFrames) throws -> Void) {
        onReceivedFrames(channel) { frames, _ in try handler(frames) }
    }

    /// ``onReceiveBorrowed(_:_:)`` whose handler gets the daemon too, so that it need not
    /// capture it (no reference-count traffic per message).
    @usableFromInline package func onReceivedFrames(_ channel: Int, _ handler: @escaping (ReceivedFrames, Daemon) throws -> Void) {
        receivingChannel(channel, "onReceiveBorrowed").handler = .receiveBorrowed(handler)
    }

    /// Runs `body` on the loop once all channels are open, before any message is handled. If it
    /// throws, the later start handlers do not run and ``run()`` fails with that error after
    /// closing the channels (nothing queued is handled).
    public func onStart(_ body: @escaping () throws -> Void) {
        startHandlers.append(body)
    }

    /// Runs `body` on the loop when the daemon terminates, after the messages already queued
    /// have been handled and before the send queues flush: what it sends still goes out (within
    /// the linger), and work it posts with `loop.execute` runs before the flush too; timers it
    /// schedules do not run (the loop closes). It does not run when the daemon failed to start.
    /// If it throws, the error is logged, the shutdown goes on, and ``run()`` fails with it.
    public func onWillTerminate(_ body: @escaping () throws -> Void) {
        willTerminateHandlers.append(body)
    }

    // MARK: Introspection

    /// A channel's counters (received, sent, dropped, handlerErrors).
    @usableFromInline package func counters(_ channel: Int) -> ChannelCounters {
        self.channel(channel, "counters").counters
    }

    /// A channel's effective spec (configuration overrides applied).
    @usableFromInline package func channelSpec(_ channel: Int) -> ChannelSpec {
        self.channel(channel, "channelSpec").spec
    }

    /// The index of the channel called `name`, if any.
    @usableFromInline package func channelIndex(named name: String) -> Int? {
        channels.firstIndex { $0.spec.name == name }
    }

    /// The endpoints a channel actually bound (wildcard ports resolved); empty for connects
    /// or before ``open()``.
    @usableFromInline package func boundEndpoints(_ channel: Int) -> [String] {
        self.channel(channel, "boundEndpoints").boundEndpoints
    }

    /// Messages waiting in a channel's own send queue (the socket could not take them yet).
    @usableFromInline package func queuedSends(_ channel: Int) -> Int {
        self.channel(channel, "queuedSends").pendingCount
    }

    /// Whether reading a channel is paused: the channel that drains it (`drainedBy`) has its
    /// send queue backed up (see ``queuedSends(_:)``), or its stream buffer is full.
    @usableFromInline package func isReceivePaused(_ channel: Int) -> Bool {
        !self.channel(channel, "isReceivePaused").isReading
    }

    /// The raw socket of a channel (`nil` when closed). For options and diagnostics; do not
    /// receive on it.
    @usableFromInline package func socket(_ channel: Int) -> Socket? {
        self.channel(channel, "socket").socket
    }

    /// Whether ``terminate()`` has been called.
    public var isTerminating: Bool { terminating }
}
