import CZeroMQ
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A handle on a task scheduled with ``EventLoop/scheduleTask(in:name:_:)``; loop-thread API.
public struct Scheduled {
    let ticket: TimerTicket
    /// Prevents the task from running if it has not run yet.
    public func cancel() { ticket.cancel() }
    /// Whether the task was cancelled before it ran.
    public var isCancelled: Bool { ticket.cancelled }
}

/// A handle on a task scheduled with ``EventLoop/scheduleRepeatedTask(initialDelay:delay:name:_:)``.
public struct RepeatedTask {
    let ticket: TimerTicket
    /// Stops further runs.
    public func cancel() { ticket.cancel() }
    /// Whether the task was cancelled.
    public var isCancelled: Bool { ticket.cancelled }
}

/// A registered socket (or fd) in the loop's poll set; loop-thread API.
public final class PollRegistration {
    let socketHandle: UnsafeMutableRawPointer?
    let fd: Int32
    /// The events currently polled for.
    @exclusivity(unchecked) public fileprivate(set) var events: PollEvents
    let label: Int
    @exclusivity(unchecked) var handler: ((PollEvents) -> Void)?
    fileprivate(set) var active = true

    init(socketHandle: UnsafeMutableRawPointer?, fd: Int32, events: PollEvents, label: Int, handler: @escaping (PollEvents) -> Void) {
        self.socketHandle = socketHandle
        self.fd = fd
        self.events = events
        self.label = label
        self.handler = handler
    }
}

final class TimerTicket {
    var deadline: Int64
    let sequence: UInt64
    let interval: Int64?
    let label: Int
    var body: (() throws -> Void)?
    var cancelled = false

    init(deadline: Int64, sequence: UInt64, interval: Int64?, label: Int, body: @escaping () throws -> Void) {
        self.deadline = deadline
        self.sequence = sequence
        self.interval = interval
        self.label = label
        self.body = body
    }

    func cancel() {
        cancelled = true
        body = nil
    }

    func precedes(_ other: TimerTicket) -> Bool {
        deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
    }
}

/// The cross-thread side of a loop: a queue of posted work plus a non-blocking pipe whose
/// read end is in the loop's poll set.
final class LoopRemote: Sendable {
    struct State {
        var tasks: [@Sendable () -> Void] = []
        var wakePending = false
        var closed = false
        var stopRequested = false
    }
    let readFD: Int32
    let writeFD: Int32
    let state = Mutex(State())
    /// Set when a stop (a daemon's terminate) is asked for from another thread: a handler batch
    /// in progress ends after its current message instead of running to its end.
    let stopAsked = Atomic<Bool>(false)

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw ZMQError(operation: "pipe", subject: "event loop wake-up", code: errno, message: String(cString: strerror(errno)))
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        closeDescriptor(readFD)
        closeDescriptor(writeFD)
    }

    /// Queues `task` (or only a stop request when `task` is nil); returns false when the loop
    /// has closed.
    func post(_ task: (@Sendable () -> Void)?, stop: Bool = false) -> Bool {
        let (accepted, wake) = state.withLock { state -> (Bool, Bool) in
            guard !state.closed else { return (false, false) }
            if let task { state.tasks.append(task) }
            if stop {
                state.stopRequested = true
                stopAsked.store(true, ordering: .relaxed)
            }
            let wake = !state.wakePending
            state.wakePending = true
            return (true, wake)
        }
        if wake {
            var byte: UInt8 = 1
            while write(writeFD, &byte, 1) < 0 && errno == EINTR {}
        }
        return accepted
    }

    /// Empties the pipe and takes the queued tasks and stop request (loop thread).
    func take() -> (tasks: [@Sendable () -> Void], stop: Bool) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
        return state.withLock { state in
            state.wakePending = false
            defer {
                state.tasks.removeAll()
                state.stopRequested = false
            }
            return (state.tasks, state.stopRequested)
        }
    }

    func shutdown() -> [@Sendable () -> Void] {
        state.withLock { state in
            state.closed = true
            defer { state.tasks.removeAll() }
            return state.tasks
        }
    }
}

private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

/// What the loop is doing right now, readable by the watchdog thread without locks.
final class LoopActivity: Sendable {
    /// Monotonic ns when the current handler/timer started; 0 when idle.
    let busySince = Atomic<Int64>(0)
    /// Index into `labels` of what is running.
    let current = Atomic<Int>(0)
    let labels = Mutex<[String]>(["loop"])

    func label(_ text: String) -> Int {
        labels.withLock { labels in
            if let index = labels.firstIndex(of: text) { return index }
            labels.append(text)
            return labels.count - 1
        }
    }

    func text(_ index: Int) -> String {
        labels.withLock { index < $0.count ? $0[index] : "?" }
    }

    @inline(__always) func begin(_ label: Int) {
        current.store(label, ordering: .relaxed)
        busySince.store(monotonicNanoseconds(), ordering: .releasing)
    }

    /// With a watchdog: how long a callback must take for ``stallEnded`` to hear of it, ns (0:
    /// off). Set on the loop's thread before the loop runs, read only there.
    nonisolated(unsafe) var stallThreshold: Int64 = 0
    /// Run on the loop's thread when a callback that took at least ``stallThreshold`` ends, with
    /// its label and how long it really took.
    nonisolated(unsafe) var stallEnded: ((String, Int64) -> Void)?

    @inline(__always) func end() {
        guard stallThreshold > 0 else {
            busySince.store(0, ordering: .releasing)
            return
        }
        let since = busySince.load(ordering: .relaxed)
        busySince.store(0, ordering: .releasing)
        let took = monotonicNanoseconds() - since
        if since != 0, took >= stallThreshold { stallEnded?(text(current.load(ordering: .relaxed)), took) }
    }
}

/// A `Sendable` reference to an ``EventLoop`` for other threads and tasks: it can only post
/// work, which then runs on the loop's thread.
public struct EventLoopHandle: Sendable {
    let remote: LoopRemote

    /// Runs `task` on the loop's thread at its next iteration. Returns `false` (and drops the
    /// task) when the loop has already closed.
    @discardableResult
    public func execute(_ task: @escaping @Sendable () -> Void) -> Bool {
        remote.post(task)
    }

    /// Asks the loop to end ``EventLoop/run()`` after its current iteration. Returns `false`
    /// when the loop has already closed.
    @discardableResult
    public func stop() -> Bool {
        remote.post(nil, stop: true)
    }
}

/// One thread's event loop: `zmq_poll` over registered sockets plus a wake-up pipe, timers
/// and posted tasks (API named after SwiftNIO's `EventLoop`).
///
/// Isolation model: an `EventLoop` is not `Sendable`. It, its sockets and every handler's state
/// live on the thread that runs it, so handlers need no locks. Other threads hold only an
/// ``EventLoopHandle`` (or a ``DaemonHandle``), which posts closures to run here.
///
/// The poll timeout is the next timer's deadline (infinite when there is none), so an idle
/// loop sleeps in the kernel and uses no CPU.
public final class EventLoop {
    /// The loop's time source.
    public let clock: any EventLoopClock
    /// Where timer and task failures are logged.
    public var logger: Logger
    /// Called with the label ("timer <name>") and the error when a scheduled task throws.
    public var onTaskError: ((String, any Error) -> Void)?

    let remote: LoopRemote
    let activity = LoopActivity()
    /// Runs at the end of every iteration (the daemon reports batched metrics here).
    var afterIteration: (() -> Void)?
    @exclusivity(unchecked) private var localTasks: [() -> Void] = []
    @exclusivity(unchecked) private var timers: [TimerTicket] = []
    private var sequence: UInt64 = 0
    @exclusivity(unchecked) private var registrations: [PollRegistration] = []
    @exclusivity(unchecked) private var items: [zmq_pollitem_t] = []
    @exclusivity(unchecked) private var itemsDirty = true
    @exclusivity(unchecked) private var stopRequested = false
    /// Whether ``run()`` is executing.
    public private(set) var isRunning = false
    /// Set once ``close()`` ran: posted work is refused.
    public private(set) var isClosed = false

    /// Creates a loop; it runs on whichever thread calls ``run()``.
    public init(clock: any EventLoopClock = SystemClock(), logger: Logger = Logger(label: "zdaemon.loop")) throws {
        self.clock = clock
        self.logger = logger
        remote = try LoopRemote()
    }

    deinit {
        _ = remote.shutdown()
    }

    /// The `Sendable` handle other threads use to post work.
    public var handle: EventLoopHandle { EventLoopHandle(remote: remote) }

    private var nowNanoseconds: Int64 { clock.now().nanoseconds }

    // MARK: Work

    /// Runs `task` at the next loop iteration (after pending I/O), on this thread.
    public func execute(_ task: @escaping () -> Void) {
        localTasks.append(task)
    }

    /// Runs `task` once after `delay` (by the loop's clock). Cancel with the returned handle.
    /// A thrown error is logged.
    @discardableResult
    public func scheduleTask(in delay: Duration, name: String = "task", _ task: @escaping () throws -> Void) -> Scheduled {
        Scheduled(ticket: addTimer(delay: delay, interval: nil, name: name, task))
    }

    /// Runs `task` after `initialDelay`, then again `delay` after each run ends (SwiftNIO
    /// semantics: at most once per interval, never a burst to catch up).
    @discardableResult
    public func scheduleRepeatedTask(initialDelay: Duration, delay: Duration, name: String = "repeated task",
                                     _ task: @escaping () throws -> Void) -> RepeatedTask {
        precondition(delay > .zero, "a repeated task needs a positive delay")
        return RepeatedTask(ticket: addTimer(delay: initialDelay, interval: delay.nanoseconds, name: name, task))
    }

    private func addTimer(delay: Duration, interval: Int64?, name: String, _ body: @escaping () throws -> Void) -> TimerTicket {
        sequence += 1
        let ticket = TimerTicket(deadline: nowNanoseconds + max(0, delay.nanoseconds), sequence: sequence,
                                 interval: interval, label: activity.label("timer \(name)"), body: body)
        pushTimer(ticket)
        return ticket
    }

    // MARK: Poll set

    /// Adds `socket` to the poll set; `handler` runs on this thread with the ready events.
    /// `name` labels it in watchdog warnings (e.g. `channel job`).
    public func register(_ socket: Socket, events: PollEvents, name: String,
                         _ handler: @escaping (PollEvents) -> Void) -> PollRegistration {
        let registration = PollRegistration(socketHandle: socket.handle, fd: 0, events: events,
                                            label: activity.label(name), handler: handler)
        registrations.append(registration)
        itemsDirty = true
        return registration
    }

    /// Changes what a registration polls for (e.g. add `.writable` while sends wait).
    public func update(_ registration: PollRegistration, events: PollEvents) {
        guard registration.active, registration.events != events else { return }
        registration.events = events
        if let index = registrations.firstIndex(where: { $0 === registration }), !itemsDirty {
            items[index + 1].events = events.rawValue
        }
    }

    /// Removes a registration (before its socket is closed).
    public func unregister(_ registration: PollRegistration) {
        guard registration.active else { return }
        registration.active = false
        registration.handler = nil
        registrations.removeAll { $0 === registration }
        itemsDirty = true
    }

    // MARK: Running

    /// Ends ``run()`` after the current iteration.
    public func stop() {
        stopRequested = true
    }

    /// Runs iterations on the calling thread until ``stop()``, or until the context is
    /// terminated (ETERM ends the loop cleanly).
    public func run() throws {
        precondition(!isRunning, "EventLoop.run() is already running")
        isRunning = true
        stopRequested = false
        defer { isRunning = false }
        while !stopRequested {
            try runOnce(wait: true)
        }
    }

    /// One iteration: poll (blocking until the next timer deadline when `wait` is true, not at
    /// all otherwise), dispatch ready sockets, posted work, expired timers and queued tasks.
    /// Tests with a manual clock (`ZDaemonTesting`'s `ManualClock`) call `runOnce(wait: false)` after advancing the clock.
    public func runOnce(wait: Bool = true) throws {
        if itemsDirty { rebuildItems() }
        var timeout = -1
        if !wait || !localTasks.isEmpty || stopRequested {
            timeout = 0
        } else if let next = timers.first {
            let remaining = next.deadline - nowNanoseconds
            timeout = remaining <= 0 ? 0 : Int((remaining + 999_999) / 1_000_000)
        }
        let count = items.count
        let ready = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32(count), timeout) }
        if ready < 0 {
            let code = zmq_errno()
            if code == EINTR { return }
            if code == ETERM {
                stopRequested = true
                return
            }
            throw ZMQError(operation: "poll", subject: "event loop", code: code)
        }
        if ready > 0 {
            if items[0].revents != 0 {
                let (tasks, stop) = remote.take()
                for task in tasks { runLabelled(0) { task() } }
                if stop { stopRequested = true }
            }
            let snapshot = registrations
            for index in 0..<snapshot.count {
                let revents = items[index + 1].revents
                let registration = snapshot[index]
                guard revents != 0, registration.active, let handler = registration.handler else { continue }
                activity.begin(registration.label)
                handler(PollEvents(rawValue: revents))
                activity.end()
            }
        }
        runExpiredTimers()
        if !localTasks.isEmpty {
            let tasks = localTasks
            localTasks.removeAll(keepingCapacity: true)
            for task in tasks { runLabelled(0) { task() } }
        }
        afterIteration?()
    }

    /// Runs queued ``execute(_:)`` tasks and posted work without polling sockets; used by the
    /// daemon's shutdown after the loop stopped.
    func runPendingTasks() {
        for task in remote.take().tasks { task() }
        while !localTasks.isEmpty {
            let tasks = localTasks
            localTasks.removeAll()
            for task in tasks { task() }
        }
    }

    /// Refuses further posted work and runs what was already posted. Called when the owner
    /// is done with the loop.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        for task in remote.shutdown() { task() }
        // Cancelled, not just dropped: a handle the user keeps must not keep the task's
        // closure (and what it captured) alive.
        for ticket in timers { ticket.cancel() }
        timers.removeAll()
        localTasks.removeAll()
        afterIteration = nil
        registrations.removeAll()
        itemsDirty = true
    }

    @inline(__always) private func runLabelled(_ label: Int, _ body: () -> Void) {
        activity.begin(label)
        body()
        activity.end()
    }

    private func rebuildItems() {
        items.removeAll(keepingCapacity: true)
        items.append(zmq_pollitem_t(socket: nil, fd: remote.readFD, events: Int16(ZMQ_POLLIN), revents: 0))
        for registration in registrations {
            items.append(zmq_pollitem_t(socket: registration.socketHandle, fd: registration.fd,
                                        events: registration.events.rawValue, revents: 0))
        }
        itemsDirty = false
    }

    private func runExpiredTimers() {
        guard let first = timers.first else { return }
        let now = nowNanoseconds
        guard first.deadline <= now else { return }
        var due: [TimerTicket] = []
        while let top = timers.first, top.deadline <= now {
            popTimer()
            if !top.cancelled { due.append(top) }
        }
        for ticket in due {
            guard !ticket.cancelled, let body = ticket.body else { continue }
            activity.begin(ticket.label)
            do {
                try body()
            } catch {
                let label = activity.text(ticket.label)
                logger.error("\(label) failed: \(error)")
                onTaskError?(label, error)
            }
            activity.end()
            if let interval = ticket.interval, !ticket.cancelled {
                ticket.deadline = nowNanoseconds + interval
                pushTimer(ticket)
            } else {
                ticket.body = nil
            }
        }
    }

    // Binary min-heap on (deadline, sequence).
    private func pushTimer(_ ticket: TimerTicket) {
        timers.append(ticket)
        var child = timers.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard timers[child].precedes(timers[parent]) else { break }
            timers.swapAt(child, parent)
            child = parent
        }
    }

    private func popTimer() {
        let last = timers.count - 1
        timers.swapAt(0, last)
        timers.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < timers.count && timers[left].precedes(timers[smallest]) { smallest = left }
            if right < timers.count && timers[right].precedes(timers[smallest]) { smallest = right }
            if smallest == parent { break }
            timers.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
