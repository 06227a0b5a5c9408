import Metrics

/// Runtime state of one channel; owned by its ``Daemon`` and used on the loop thread only.
final class Channel {
    enum Handler {
        case none
        case receive(([Frame]) throws -> Void)
        /// Frames borrowed from the receive buffers, and the daemon (no retain per message).
        case receiveBorrowed((ReceivedFrames, Daemon) throws -> Void)
        /// REP: the handler's answer goes back.
        case request(([Frame]) throws -> RequestAnswer)
        case routed((RoutingID, [Frame]) throws -> Void)
        /// REQ: the outcome of the request that is out.
        case reply((Result<[Frame], RequestFailure<[Frame]>>) throws -> Void)
        /// ROUTER request server: the caller, its correlation frame and the request's frames.
        case serve((RoutingID, Frame, [Frame]) throws -> Void)
        /// DEALER caller: replies go to the requests in flight (`calls`).
        case calls
    }

    let index: Int
    let spec: ChannelSpec
    let linger: Int32
    @exclusivity(unchecked) var socket: Socket?
    @exclusivity(unchecked) var registration: PollRegistration?
    var boundEndpoints: [String] = []
    @exclusivity(unchecked) var handler: Handler = .none
    @exclusivity(unchecked) var counters = ChannelCounters()
    private var reported = ChannelCounters()
    private let receivedMetric: Counter
    private let sentMetric: Counter
    private let droppedMetric: Counter
    private let handlerErrorsMetric: Counter
    private let refusedMetric: Counter
    private let failedMetric: Counter
    private let lateMetric: Counter
    /// Reused receive buffer.
    @exclusivity(unchecked) var frames: [Frame] = []
    /// Messages the socket could not take yet (bounded by `spec.queue`); `pendingHead` is the
    /// index of the oldest, so dequeuing is O(1).
    @exclusivity(unchecked) var pending: [[Frame]] = []
    @exclusivity(unchecked) var pendingHead = 0
    var pendingCount: Int { pending.count - pendingHead }
    /// DEALER caller: the requests in flight, by correlation id, and the last id given.
    var calls: [UInt64: PendingCall] = [:]
    var lastCall: UInt64 = 0
    /// REQ: a request is out and its reply (or timeout) has not been handled yet.
    @exclusivity(unchecked) var awaitingReply = false
    @exclusivity(unchecked) var replyTimer: Scheduled?
    /// ROUTER: peers that sent a REQ-style envelope (id, empty delimiter, body).
    @exclusivity(unchecked) var delimitedPeers: Set<[UInt8]> = []
    /// Flow control (`drainedBy`/`drains`): the sending channel whose queue gates reading this
    /// input, and, on that sending channel, the inputs it gates.
    weak var drainedBy: Channel?
    var gatedInputs: [Channel] = []
    /// Whether reading is paused because `drainedBy`'s queue is (nearly) full.
    @exclusivity(unchecked) var paused = false
    /// Whether reading is paused because the channel's stream buffer (``InboundMessages``) is full.
    @exclusivity(unchecked) var streamFull = false
    /// Streamed messages the terminate drain read but the full buffer could not take.
    var droppedAtTerminate = 0
    /// Whether the loop reads the socket now (neither pause applies).
    var isReading: Bool { !paused && !streamFull }
    /// Socket events (libzmq monitor), when observed.
    var monitor: SocketMonitor?
    var monitorRegistration: PollRegistration?
    var eventHandler: ((SocketEvent) throws -> Void)?
    /// Connects and accepts minus disconnects, while monitored.
    var liveConnections = 0
    /// Events seen, by kind (`connected`, `disconnected`, ...), while monitored.
    var eventCounts: [String: Int] = [:]

    /// Pause reading the gated inputs at 80 % of the queue bound (at least 1 message)...
    var pauseThreshold: Int { max(1, (spec.queue * 8 + 9) / 10) }
    /// ...and resume under 50 %, so it does not flap.
    func belowResumeThreshold() -> Bool { pendingCount * 2 < spec.queue || pendingCount == 0 }

    init(index: Int, spec: ChannelSpec, linger: Int32, daemon: String, metricsPrefix: String,
         metricsFactory: (any MetricsFactory)?) {
        self.index = index
        self.spec = spec
        self.linger = linger
        let dimensions = [("daemon", daemon), ("channel", spec.name)]
        let factory = metricsFactory ?? MetricsSystem.factory
        receivedMetric = Counter(label: "\(metricsPrefix)_received", dimensions: dimensions, factory: factory)
        sentMetric = Counter(label: "\(metricsPrefix)_sent", dimensions: dimensions, factory: factory)
        droppedMetric = Counter(label: "\(metricsPrefix)_dropped", dimensions: dimensions, factory: factory)
        handlerErrorsMetric = Counter(label: "\(metricsPrefix)_handler_errors", dimensions: dimensions, factory: factory)
        refusedMetric = Counter(label: "\(metricsPrefix)_refused", dimensions: dimensions, factory: factory)
        failedMetric = Counter(label: "\(metricsPrefix)_failed", dimensions: dimensions, factory: factory)
        lateMetric = Counter(label: "\(metricsPrefix)_late", dimensions: dimensions, factory: factory)
    }

    /// Pushes the counts accumulated since the last call to swift-metrics (batched, so the
    /// per-message cost is an integer increment).
    func reportMetrics() {
        if counters.received != reported.received {
            receivedMetric.increment(by: Int64(counters.received - reported.received))
        }
        if counters.sent != reported.sent { sentMetric.increment(by: Int64(counters.sent - reported.sent)) }
        if counters.dropped != reported.dropped {
            droppedMetric.increment(by: Int64(counters.dropped - reported.dropped))
        }
        if counters.handlerErrors != reported.handlerErrors {
            handlerErrorsMetric.increment(by: Int64(counters.handlerErrors - reported.handlerErrors))
        }
        if counters.refused != reported.refused {
            refusedMetric.increment(by: Int64(counters.refused - reported.refused))
        }
        if counters.failed != reported.failed { failedMetric.increment(by: Int64(counters.failed - reported.failed)) }
        if counters.late != reported.late { lateMetric.increment(by: Int64(counters.late - reported.late)) }
        reported = counters
    }

    var metricsDirty: Bool { counters != reported }

    /// Client sends waiting for room in the queue (``DaemonClient/send(_:)``), run again when a
    /// flush makes room or the daemon terminates.
    /// Each gets the daemon, or `nil` when the daemon is freed before it woke them.
    var spaceWaiters: [(Daemon?) -> Void] = []

    /// Forgets the handlers (at shutdown), and with them whatever they captured.
    func releaseHandlers() {
        handler = .none
        eventHandler = nil
    }

    func enqueue(_ frames: [Frame]) {
        pending.append(frames)
    }

    func dequeue() {
        pending[pendingHead] = []
        pendingHead += 1
        if pendingHead == pending.count {
            pending.removeAll(keepingCapacity: true)
            pendingHead = 0
        } else if pendingHead >= 1024 && pendingHead * 2 >= pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    var firstPending: [Frame] { pending[pendingHead] }

    func clearPending() {
        pending.removeAll()
        pendingHead = 0
    }
}
