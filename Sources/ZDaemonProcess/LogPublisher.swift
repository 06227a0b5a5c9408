import CZeroMQ
import Foundation
import Logging
import Metrics
import Synchronization
import ZDaemon
import ZDaemonSecurity

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ships log records to a collector over ZeroMQ without ever blocking the code that logs: the
/// engine behind the INI's `class = ZMQHandler` and behind ``ZMQLogHandler``.
///
/// - The socket is an XPUB with `ZMQ_XPUB_NODROP` and `ZMQ_IMMEDIATE`, owned by a thread of the publisher's own
///   (in a libzmq context of its own), which **connects** to the collector's endpoints: many
///   processes log to one collector, which binds. A collector's SUB sees an ordinary publisher.
/// - Callers only encode the record (``CentralLogRecord``) and append it to a bounded queue
///   (``Settings/queueLimit`` records, ``queueBytesLimit`` bytes); they never wait for the
///   socket, the network or the collector.
/// - Records are held until a subscription has arrived, and again whenever no collector is
///   subscribed (it went away), so the first lines of a daemon are not lost to ZeroMQ's
///   slow-joiner effect.
/// - When the collector does not keep up, libzmq refuses the next record (EAGAIN, NODROP at the
///   high-water mark); the record stays first in the queue and is retried (10 ms, backing off to
///   100 ms). When the queue is full, new records are dropped and counted, and as soon as a
///   collector is subscribed and there is room again, a record saying how many were dropped takes
///   their place (level `WARNING`, label `zdaemon.log`), so the collector shows where the gap is.
/// - ``close(timeout:)`` (the process layer calls it at exit) sends what it can and lingers,
///   within its timeout, then says on stderr what was not delivered.
/// - swift-metrics counters `zdaemon_log_records_sent` and `zdaemon_log_records_dropped`
///   (dimension `handler`) count what the thread handed to the socket and what was dropped.
public final class LogPublisher: Sendable {
    /// Where and how records are shipped.
    public struct Settings: Sendable, Equatable {
        /// The collector endpoints the XPUB connects to (`tcp://logs:9020`, `ipc:///run/zlogd`).
        public var endpoints: [String]
        /// The most records waiting for the collector (default 10 000); more are dropped and counted.
        public var queueLimit: Int
        /// ZMQ_SNDHWM of the XPUB, messages (default 1000): what libzmq holds per collector.
        public var hwm: Int32
        /// How long ``close(timeout:)`` may wait for the collector at exit, at most (default 1 s).
        public var linger: Duration
        /// ZMQ_RECONNECT_IVL in milliseconds; nil keeps libzmq's 100 ms.
        public var reconnectInterval: Int32?
        /// CURVE: this side's key pair and the collector's public key; nil is plaintext.
        public var curve: Curve?

        /// The CURVE keys of a handler (it is always the CURVE client).
        public struct Curve: Sendable, Equatable {
            /// The handler's own key pair (the collector's allow-list names its public key).
            public var keyPair: CurveKeyPair
            /// The collector's public key.
            public var serverKey: CurveKey
            /// Creates the keys.
            public init(keyPair: CurveKeyPair, serverKey: CurveKey) {
                self.keyPair = keyPair
                self.serverKey = serverKey
            }
        }

        /// Creates settings; everything but the endpoints has a default.
        public init(endpoints: [String], queueLimit: Int = 10_000, hwm: Int32 = 1000, linger: Duration = .seconds(1),
                    reconnectInterval: Int32? = nil, curve: Curve? = nil) {
            self.endpoints = endpoints
            self.queueLimit = queueLimit
            self.hwm = hwm
            self.linger = linger
            self.reconnectInterval = reconnectInterval
            self.curve = curve
        }
    }

    /// What the publisher has done so far.
    public struct Statistics: Sendable, Equatable {
        /// Records handed to the socket (drop notes included).
        public var sent = 0
        /// Records dropped because the queue was full, or published after ``close(timeout:)``.
        public var dropped = 0
        /// Records waiting in the queue.
        public var queued = 0
        /// Whether a collector is subscribed now.
        public var subscribed = false
    }

    /// The most bytes of encoded records the queue holds (16 MiB), whatever ``Settings/queueLimit`` says.
    public static let queueBytesLimit = 16 << 20

    /// The handler's name in messages (the INI's handler key, e.g. `central`).
    public let name: String
    /// Its settings.
    public let settings: Settings

    private struct State {
        var queue: [[[UInt8]]] = []
        var head = 0
        var bytes = 0
        var pendingDrops = 0
        var statistics = Statistics()
        var started = false
        var sleeping = false
        var closing: ContinuousClock.Instant?
        var finished = false
        /// The socket's linger ran out at close with records maybe still in libzmq's pipes.
        var lingerExpired = false
        /// Title, pid and app of the last record, for a drop note written at the end.
        var last: LogRecord?

        var count: Int { queue.count - head }
    }

    private let state = Mutex(State())
    private let condition = NSCondition()
    private let sentMetric: Counter
    private let droppedMetric: Counter
    private let wake: (read: Int32, write: Int32)

    /// Creates a publisher; its thread and socket start with the first record. Its counters go to
    /// `metricsFactory`, or to the bootstrapped swift-metrics backend when nil.
    public init(name: String, settings: Settings, metricsFactory: (any MetricsFactory)? = nil) {
        self.name = name
        self.settings = settings
        let factory = metricsFactory ?? MetricsSystem.factory
        sentMetric = Counter(label: "zdaemon_log_records_sent", dimensions: [("handler", name)], factory: factory)
        droppedMetric = Counter(label: "zdaemon_log_records_dropped", dimensions: [("handler", name)], factory: factory)
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        }
        wake = (fds[0], fds[1])
    }

    deinit {
        if wake.read >= 0 { closeDescriptor(wake.read) }
        if wake.write >= 0 { closeDescriptor(wake.write) }
    }

    /// What it has done so far.
    public var statistics: Statistics {
        state.withLock { state in
            var statistics = state.statistics
            statistics.queued = state.count
            return statistics
        }
    }

    /// Queues `record` for the collector; never blocks. Dropped and counted when the queue is
    /// full or the publisher is closed.
    public func publish(_ record: LogRecord) {
        let frames = CentralLogRecord.frames(of: record)
        let size = frames[0].count + frames[1].count
        let (start, signal, dropped) = state.withLock { state -> (Bool, Bool, Bool) in
            guard state.closing == nil,
                  state.count < settings.queueLimit, state.bytes + size <= Self.queueBytesLimit
            else {
                state.pendingDrops += 1
                state.statistics.dropped += 1
                return (false, false, true)
            }
            if state.pendingDrops > 0 {
                let note = CentralLogRecord.frames(of: dropNote(state.pendingDrops, like: record))
                state.queue.append(note)
                state.bytes += note[0].count + note[1].count
                state.pendingDrops = 0
            }
            state.queue.append(frames)
            state.bytes += size
            state.last = record
            let start = !state.started
            state.started = true
            let signal = state.sleeping
            state.sleeping = false
            return (start, signal, false)
        }
        if dropped {
            droppedMetric.increment()
        } else if start {
            let thread = Thread { [self] in run() }
            thread.name = "log publisher"
            thread.start()
        } else if signal {
            var byte: UInt8 = 1
            _ = write(wake.write, &byte, 1)
        }
    }

    /// The record that marks where records were dropped.
    private func dropNote(_ count: Int, like record: LogRecord) -> LogRecord {
        var note = record
        note.name = "zdaemon.log"
        note.level = .warning
        note.message = "\(count) log record\(count == 1 ? " was" : "s were") dropped by log handler '\(name)': its queue "
            + "(\(settings.queueLimit) records, \(Self.queueBytesLimit >> 20) MiB) was full (the collector at "
            + "\(settings.endpoints.joined(separator: ", ")) was down or too slow)"
        note.metadata = ["dropped": .stringConvertible(count)]
        note.file = ""
        note.function = ""
        note.line = 0
        note.source = "ZDaemonProcess"
        return note
    }

    /// Waits until every queued record is handed to the socket, or `timeout` passed; returns
    /// whether the queue emptied (it cannot while no collector is subscribed).
    @discardableResult
    public func flush(timeout: Duration) -> Bool {
        wait(until: ContinuousClock.now + timeout) { $0.count == 0 || $0.finished }
            && state.withLock { $0.count == 0 }
    }

    /// Sends what it can within `timeout` (at most ``Settings/linger``), lets libzmq deliver it
    /// within what is left, then closes the socket and ends the thread. Records published
    /// afterwards are dropped and counted. Returns how many records were never handed to the
    /// socket, and writes one line on stderr when there were some, or drops.
    @discardableResult
    public func close(timeout: Duration) -> Int {
        let deadline = ContinuousClock.now + min(timeout, settings.linger)
        let started = state.withLock { state -> Bool in
            if state.closing == nil { state.closing = deadline }
            state.sleeping = false
            return state.started
        }
        // Always: the thread may be about to sleep with a timeout computed before the close.
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        if started { _ = wait(until: deadline + .milliseconds(500)) { $0.finished } }
        let (undelivered, dropped, subscribed, expired) = state.withLock {
            ($0.count, $0.statistics.dropped, $0.statistics.subscribed, $0.lingerExpired)
        }
        if expired {
            Self.stderrLine("log handler '\(name)': log records possibly lost: the linger ran out while libzmq still held some for "
                + "\(settings.endpoints.joined(separator: ", ")) (its collector was slow)")
        }
        if undelivered > 0 {
            let why = subscribed ? "the collector did not take them in time" : "no collector was subscribed"
            Self.stderrLine("log handler '\(name)': \(undelivered) log record\(undelivered == 1 ? "" : "s") not delivered to "
                + "\(settings.endpoints.joined(separator: ", ")) (\(why)); \(dropped) dropped in all")
        }
        return undelivered
    }

    private func wait(until deadline: ContinuousClock.Instant, _ done: (State) -> Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while !state.withLock({ done($0) }) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return false }
            _ = condition.wait(until: Date(timeIntervalSinceNow: min(Double(left.components.seconds) + Double(left.components.attoseconds) / 1e18, 0.05)))
        }
        return true
    }

    private func signalWaiters() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    static func stderrLine(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    // MARK: The publisher's thread

    /// Owns the context and the XPUB: tracks subscriptions, sends while a collector is
    /// subscribed, retries refused records, and lingers at close.
    private func run() {
        guard let context = zmq_ctx_new() else { return fail("cannot create a libzmq context") }
        _ = zmq_ctx_set(context, ZMQ_BLOCKY, 0)
        var socket = zmq_socket(context, ZMQ_XPUB)
        var contextTerminated = false
        defer {
            if let open = socket { closeSocket(open, linger: 0) }
            if !contextTerminated { while zmq_ctx_term(context) != 0 && zmq_errno() == EINTR {} }
            state.withLock { $0.finished = true }
            signalWaiters()
        }
        guard let xpub = socket else { return fail("cannot create its socket: \(String(cString: zmq_strerror(zmq_errno())))") }
        if let problem = configure(xpub) { return fail(problem) }

        var topics: [[UInt8]: Int] = [:]
        var backoff: Int32 = 0
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            // Subscriptions: 1 + topic subscribes, 0 + topic unsubscribes (also when a collector leaves).
            while true {
                let count = buffer.withUnsafeMutableBytes { zmq_recv(xpub, $0.baseAddress, $0.count, ZMQ_DONTWAIT) }
                guard count > 0 else { break }
                let topic = Array(buffer[1..<min(Int(count), buffer.count)])
                if buffer[0] == 1 {
                    topics[topic, default: 0] += 1
                } else if buffer[0] == 0, let held = topics[topic] {
                    topics[topic] = held > 1 ? held - 1 : nil
                }
            }
            let subscribed = !topics.isEmpty
            state.withLock { $0.statistics.subscribed = subscribed }

            // Drops are said as soon as they can be: once a collector is subscribed and the queue
            // has room (a record published first puts the note before itself).
            if subscribed {
                state.withLock { state in
                    guard state.pendingDrops > 0, state.count < settings.queueLimit, let last = state.last else { return }
                    let note = CentralLogRecord.frames(of: dropNote(state.pendingDrops, like: last))
                    state.queue.append(note)
                    state.bytes += note[0].count + note[1].count
                    state.pendingDrops = 0
                }
            }

            // Send while a collector is subscribed and libzmq takes them.
            var refused = false
            var sentAny = false
            while subscribed, let frames = state.withLock({ $0.count > 0 ? $0.queue[$0.head] : nil }) {
                switch send(frames, on: xpub) {
                case .sent:
                    sentAny = true
                    sentMetric.increment()
                    state.withLock { state in
                        state.bytes -= frames[0].count + frames[1].count
                        state.head += 1
                        state.statistics.sent += 1
                        if state.head >= 1024 || state.head == state.queue.count {
                            state.queue.removeFirst(state.head)
                            state.head = 0
                        }
                    }
                case .refused:
                    refused = true
                case .failed(let problem):
                    return fail(problem)
                }
                if refused { break }
            }
            if sentAny { signalWaiters() }
            backoff = refused ? min(max(backoff * 2, 10), 100) : 0

            // Closing: stop once everything is out, or at the deadline; libzmq gets what is left.
            let (closing, waiting, unsaid) = state.withLock { ($0.closing, $0.count, $0.pendingDrops) }
            if let closing {
                let left = closing - ContinuousClock.now
                // Done when everything is out and any drops are said (if a collector can hear it).
                if (waiting == 0 && (unsaid == 0 || !subscribed)) || left <= .zero {
                    let linger = Int32(max(0, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                    closeSocket(xpub, linger: linger)
                    socket = nil
                    // libzmq still had to deliver what was sent last: a termination that takes the
                    // whole linger means some of it may not have arrived.
                    let started = ContinuousClock.now
                    while zmq_ctx_term(context) != 0 && zmq_errno() == EINTR {}
                    contextTerminated = true
                    if sentAny || state.withLock({ $0.statistics.sent > 0 }), linger > 0,
                       ContinuousClock.now - started >= .milliseconds(Int64(linger)) - .milliseconds(5) {
                        state.withLock { $0.lingerExpired = true }
                    }
                    return
                }
            }

            // Wait for a subscription change, a record, a retry or the close deadline. Decided
            // under the lock that publish() and close() take, so no wake-up is missed.
            let timeout = state.withLock { state -> Int? in
                // Records waiting while a collector takes them (or the drop note to say): again.
                if subscribed && !refused && (state.count > 0 || state.pendingDrops > 0) && state.closing == nil { return nil }
                var timeout = refused ? Int(backoff) : -1
                if let closing = state.closing {
                    let left = closing - ContinuousClock.now
                    let ms = Int(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
                    timeout = timeout < 0 ? ms : min(timeout, ms)
                }
                // While refused, new records need no wake-up: the retry comes anyway.
                state.sleeping = !refused
                return timeout
            }
            guard let timeout else { continue }
            var items = [
                zmq_pollitem_t(socket: xpub, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0),
                zmq_pollitem_t(socket: nil, fd: wake.read, events: Int16(ZMQ_POLLIN), revents: 0),
            ]
            if zmq_poll(&items, 2, timeout) < 0, zmq_errno() != EINTR {
                return fail("poll: \(String(cString: zmq_strerror(zmq_errno())))")
            }
            state.withLock { $0.sleeping = false }
            var drain = [UInt8](repeating: 0, count: 64)
            while read(wake.read, &drain, drain.count) > 0 {}
        }
    }

    private enum SendResult {
        case sent, refused
        case failed(String)
    }

    private func send(_ frames: [[UInt8]], on socket: UnsafeMutableRawPointer) -> SendResult {
        for (index, frame) in frames.enumerated() {
            let flags = (index == 0 ? ZMQ_DONTWAIT : 0) | (index < frames.count - 1 ? ZMQ_SNDMORE : 0)
            while true {
                let rc = frame.withUnsafeBytes { zmq_send(socket, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), $0.count, flags) }
                if rc >= 0 { break }
                let code = zmq_errno()
                if code == EINTR { continue }
                if code == EAGAIN && index == 0 { return .refused }
                return .failed("send: \(String(cString: zmq_strerror(code)))")
            }
        }
        return .sent
    }

    /// Options, CURVE and connects; the problem in words, or nil.
    private func configure(_ socket: UnsafeMutableRawPointer) -> String? {
        func set(_ option: Int32, _ value: Int32, _ label: String) -> String? {
            var value = value
            return zmq_setsockopt(socket, option, &value, MemoryLayout<Int32>.size) == 0 ? nil
                : "\(label): \(String(cString: zmq_strerror(zmq_errno())))"
        }
        func set(_ option: Int32, _ bytes: [UInt8], _ label: String) -> String? {
            bytes.withUnsafeBytes { zmq_setsockopt(socket, option, $0.baseAddress, $0.count) } == 0 ? nil
                : "\(label): \(String(cString: zmq_strerror(zmq_errno())))"
        }
        // ZMQ_IMMEDIATE: a pipe only while connected, so a collector that goes away unsubscribes
        // (and records are held here, counted) instead of filling a pipe to nobody.
        if let problem = set(ZMQ_LINGER, 0, "ZMQ_LINGER") ?? set(ZMQ_XPUB_NODROP, 1, "ZMQ_XPUB_NODROP")
            ?? set(ZMQ_SNDHWM, settings.hwm, "ZMQ_SNDHWM") ?? set(ZMQ_IMMEDIATE, 1, "ZMQ_IMMEDIATE") {
            return problem
        }
        if let interval = settings.reconnectInterval, let problem = set(ZMQ_RECONNECT_IVL, interval, "ZMQ_RECONNECT_IVL") {
            return problem
        }
        if let curve = settings.curve {
            guard CurveSupport.isAvailable else { return "CURVE is configured, but this libzmq has no CURVE support" }
            if let problem = set(ZMQ_CURVE_SERVERKEY, curve.serverKey.bytes, "ZMQ_CURVE_SERVERKEY")
                ?? set(ZMQ_CURVE_PUBLICKEY, curve.keyPair.publicKey.bytes, "ZMQ_CURVE_PUBLICKEY")
                ?? set(ZMQ_CURVE_SECRETKEY, curve.keyPair.secretKey.bytes, "ZMQ_CURVE_SECRETKEY") {
                return problem
            }
        }
        for endpoint in settings.endpoints where zmq_connect(socket, endpoint) != 0 {
            return "connect \(endpoint): \(String(cString: zmq_strerror(zmq_errno())))"
        }
        return nil
    }

    private func closeSocket(_ socket: UnsafeMutableRawPointer, linger: Int32) {
        var linger = linger
        zmq_setsockopt(socket, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        zmq_close(socket)
    }

    /// The thread could not run: every record is dropped and counted from now on.
    private func fail(_ problem: String) {
        let lost = state.withLock { state -> Int in
            let lost = state.count
            state.statistics.dropped += lost
            state.queue = []
            state.head = 0
            state.bytes = 0
            if state.closing == nil { state.closing = .now }
            return lost
        }
        droppedMetric.increment(by: lost)
        let dropped = state.withLock { $0.statistics.dropped }
        Self.stderrLine("log handler '\(name)': \(problem); its log records are dropped (\(dropped) so far, \(lost) of them queued)")
    }
}

private func closeDescriptor(_ fd: Int32) {
    #if canImport(Glibc)
        _ = Glibc.close(fd)
    #else
        _ = Darwin.close(fd)
    #endif
}
