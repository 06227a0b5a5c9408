import Foundation

/// A `Sendable` handle on a running ``Daemon``, for other threads and tasks: post work to its
/// loop, terminate it, wait until it has started or finished.
public final class DaemonHandle: @unchecked Sendable {
    // Mutable state is guarded by `condition`; `daemon` and `lifetime` are touched on the
    // daemon's thread only (its loop, or its deinit).
    /// The daemon's name (spec name).
    public let name: String
    let loop: EventLoopHandle
    private let condition = NSCondition()
    private var started = false
    private var terminatingFlag = false
    private var cutShort = false
    private var finished = false
    private var failure: (any Error)?
    private var endpoints: [[String]]
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var startWaiters: [CheckedContinuation<Void, Never>] = []
    /// The streamed channels' buffers, by channel index (``InboundMessages``).
    private var streams: [Int: any InboundEnding] = [:]
    // A weak reference to the daemon itself would give it a side table, and every retain and
    // release of it (one per message on the generated path) would take the slow path: the weak
    // reference is to a token the daemon owns, and the daemon is reached only while it is alive.
    private weak var lifetime: DaemonLifetime?
    private unowned(unsafe) var daemon: Daemon?

    init(name: String, loop: EventLoopHandle, channelCount: Int) {
        self.name = name
        self.loop = loop
        endpoints = Array(repeating: [], count: channelCount)
    }

    /// Forgets the daemon (it is being freed).
    func detach() {
        lifetime = nil
        daemon = nil
    }

    /// Runs `task` once, on the loop thread with the daemon, or with `nil` when the daemon has
    /// shut down or is gone (also when the loop is freed with the task still queued); returns
    /// `false`, and `task` does not run, when the loop has closed.
    package func submit(_ task: @escaping @Sendable (Daemon?) -> Void) -> Bool {
        let submitted = SubmittedTask(task)
        guard loop.execute({ [self] in
            submitted.run(lifetime != nil && daemon.map { !$0.isClosed } == true ? daemon : nil)
        }) else {
            submitted.ran = true
            return false
        }
        return true
    }

    func attach(_ daemon: Daemon) {
        self.daemon = daemon
        lifetime = daemon.lifetime
    }

    /// Runs `task` on the daemon's loop thread. Returns `false` when the daemon has closed.
    @discardableResult
    public func execute(_ task: @escaping @Sendable () -> Void) -> Bool {
        loop.execute(task)
    }

    /// Runs `task` on the daemon's loop thread with the daemon itself (which is only usable
    /// there). Returns `false` when the daemon has closed.
    @discardableResult
    public func execute(_ task: @escaping @Sendable (Daemon) -> Void) -> Bool {
        // Posted tasks run on the loop's thread only while the daemon runs or closes its loop
        // (its shutdown), never after it is freed: while `lifetime` is set, `daemon` is alive.
        loop.execute { [self] in
            if lifetime != nil, let daemon { task(daemon) }
        }
    }

    /// Terminates the daemon from any thread (see ``Daemon/terminate()``). No effect once it
    /// has finished.
    public func terminate() {
        // The batch being handled ends after its current message (see `Daemon.receiveLoop`).
        loop.remote.stopAsked.store(true, ordering: .relaxed)
        markTerminating()  // asked for now, even while a handler keeps the loop from acting on it
        execute { (daemon: Daemon) in daemon.terminate() }
    }

    /// Whether the daemon's loop has started.
    public var isStarted: Bool { condition.withLock { started } }
    /// Whether the daemon's ``Daemon/run()`` has returned.
    public var isFinished: Bool { condition.withLock { finished } }
    /// The error ``Daemon/run()`` ended with, if any.
    public var error: (any Error)? { condition.withLock { failure } }

    /// The endpoints a channel bound (wildcards resolved), once the daemon has opened.
    package func boundEndpoints(_ channel: Int) -> [String] {
        condition.withLock { endpoints.indices.contains(channel) ? endpoints[channel] : [] }
    }

    /// Blocks until the daemon has started (or finished without starting), or the timeout
    /// passed. Returns whether it started.
    @discardableResult
    public func waitUntilStarted(timeout: Duration? = nil) -> Bool {
        _ = wait(timeout) { self.started || self.finished }
        return isStarted
    }

    /// Blocks until ``Daemon/run()`` has returned or the timeout passed; returns whether it did.
    @discardableResult
    public func waitUntilFinished(timeout: Duration? = nil) -> Bool {
        wait(timeout) { self.finished }
    }

    /// Suspends until the daemon has started (or finished without starting).
    public func started() async {
        await withCheckedContinuation { continuation in
            let ready = condition.withLock {
                if started || finished { return true }
                startWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    /// Suspends until ``Daemon/run()`` has returned.
    public func finished() async {
        await withCheckedContinuation { continuation in
            let ready = condition.withLock {
                if finished { return true }
                waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func wait(_ timeout: Duration?, until predicate: () -> Bool) -> Bool {
        let deadline = timeout.map { Date(timeIntervalSinceNow: Double($0.nanoseconds) / 1e9) }
        condition.lock()
        defer { condition.unlock() }
        while !predicate() {
            if let deadline {
                if !condition.wait(until: deadline) { return predicate() }
            } else {
                condition.wait()
            }
        }
        return true
    }

    /// Records the stream of a channel; one that it replaces ends with an error, so that its
    /// consumers do not wait for messages that now go elsewhere.
    func registerStream(_ buffer: some InboundEnding, channel: Int, channelName: String) {
        let replaced = condition.withLock { streams.updateValue(buffer, forKey: channel) }
        replaced?.finish(ZDaemonError("\(name): the stream of channel \(channelName) was replaced"))
    }

    /// The stream of the channel at `index` as `InboundMessages<Message>`, or one that throws
    /// why there is none.
    package func messages<Message: Sendable>(_ index: Int, channelName: String, as type: Message.Type) -> InboundMessages<Message> {
        let buffer = condition.withLock { streams[index] }
        guard let buffer else {
            return InboundMessages(unavailable: ZDaemonError("\(name): channel \(channelName) is not streamed"))
        }
        guard let typed = buffer as? InboundBuffer<Message> else {
            return InboundMessages(unavailable: ZDaemonError("\(name): channel \(channelName) does not stream \(Message.self)"))
        }
        return InboundMessages(typed)
    }

    /// Ends every stream (consumers take what is buffered, then the end or `error`).
    func finishStreams(_ error: (any Error)?) {
        for stream in condition.withLock({ streams.values }) { stream.finish(error) }
    }

    func publishEndpoints(_ bound: [[String]]) {
        condition.withLock { endpoints = bound }
    }

    func markStarted() {
        let resume = condition.withLock {
            started = true
            condition.broadcast()
            defer { startWaiters.removeAll() }
            return startWaiters
        }
        for continuation in resume { continuation.resume() }
    }

    func markTerminating() {
        condition.withLock {
            terminatingFlag = true
            condition.broadcast()
        }
    }

    func markCutShort() {
        condition.withLock { cutShort = true }
    }

    /// Whether the daemon has been asked to terminate (or has begun to, or has finished).
    public var isTerminating: Bool { condition.withLock { terminatingFlag || finished } }

    /// Whether the shutdown deadline passed before the daemon had handled what was queued for
    /// it (``DaemonConfiguration/shutdownTimeout``): the rest was dropped and counted.
    public var wasCutShort: Bool { condition.withLock { cutShort } }

    /// Blocks until the daemon begins to terminate (or has finished), or `timeout` passed;
    /// returns whether it did. For supervisors that bound a shutdown from a thread of their own.
    public func waitUntilTerminating(timeout: Duration? = nil) -> Bool {
        let deadline = timeout.map { Date(timeIntervalSinceNow: Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18) }
        return condition.withLock {
            while !terminatingFlag && !finished {
                if let deadline {
                    if !condition.wait(until: deadline) { return terminatingFlag || finished }
                } else {
                    condition.wait()
                }
            }
            return true
        }
    }

    func markFinished(_ error: (any Error)?) {
        let resume = condition.withLock {
            finished = true
            failure = error
            condition.broadcast()
            defer {
                waiters.removeAll()
                startWaiters.removeAll()
            }
            return waiters + startWaiters
        }
        finishStreams(error)
        for continuation in resume { continuation.resume() }
    }
}

/// Owned by a daemon, so that a handle can tell whether the daemon is still alive (see
/// ``DaemonHandle``).
final class DaemonLifetime {}

/// A task posted by ``DaemonHandle/submit(_:)``: run once, with `nil` if it is dropped unrun.
final class SubmittedTask: @unchecked Sendable {
    // `ran` is set where the task runs or is refused; the deinit comes after both.
    private let task: @Sendable (Daemon?) -> Void
    var ran = false

    init(_ task: @escaping @Sendable (Daemon?) -> Void) { self.task = task }

    func run(_ daemon: Daemon?) {
        guard !ran else { return }
        ran = true
        task(daemon)
    }

    deinit { if !ran { task(nil) } }
}

/// Something that hosts a ``Daemon`` and runs it: the daemon itself, or a generated daemon
/// type (a ``TypedDaemon``: a typed view of its daemon).
public protocol DaemonHosting: SendableMetatype {
    /// The runtime daemon.
    var daemon: Daemon { get }
    /// Runs until terminated (blocks the calling thread).
    func run() throws
}

extension DaemonHosting {
    /// Opens the channels and runs the daemon's loop on the calling thread until it terminates
    /// (``Daemon/run()``).
    public func run() throws { try daemon.run() }
}

extension Daemon: DaemonHosting {
    /// The daemon itself.
    public var daemon: Daemon { self }
}

/// Runs a daemon on a thread of its own. The daemon is created on that thread (it is not
/// `Sendable`), so the caller passes a factory and gets back the `Sendable` handle.
public enum DaemonThread {
    /// Starts a thread named `name`, creates the daemon there with `make`, and runs it.
    /// Returns once the daemon exists (rethrowing `make`'s error); the daemon's own start and
    /// end are observable through the handle.
    public static func start<D: DaemonHosting>(name: String, stackSize: Int = 8 << 20,
                                                _ make: @escaping @Sendable () throws -> D) throws -> DaemonHandle {
        let created = NSCondition()
        nonisolated(unsafe) var result: Result<DaemonHandle, any Error>?
        let thread = Thread {
            do {
                let hosted = try make()
                let handle = hosted.daemon.handle
                created.withLock {
                    result = .success(handle)
                    created.broadcast()
                }
                // The error is recorded on the handle by Daemon.run().
                try? hosted.run()
            } catch {
                created.withLock {
                    result = .failure(error)
                    created.broadcast()
                }
            }
        }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
        created.lock()
        defer { created.unlock() }
        while result == nil { created.wait() }
        return try result!.get()
    }

    /// Like ``start(name:stackSize:_:)``, for async code: suspends (never blocks a thread of the
    /// cooperative pool) until the daemon exists on its thread, then returns its handle.
    public static func start<D: DaemonHosting>(name: String, stackSize: Int = 8 << 20,
                                                _ make: @escaping @Sendable () throws -> D) async throws -> DaemonHandle {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<DaemonHandle, any Error>) in
            let thread = Thread {
                let hosted: D
                do {
                    hosted = try make()
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                continuation.resume(returning: hosted.daemon.handle)
                // The error is recorded on the handle by Daemon.run().
                try? hosted.run()
            }
            thread.name = name
            thread.stackSize = stackSize
            thread.start()
        }
    }

    /// Runs a daemon created by `make` on a thread of its own until it finishes, suspending the
    /// calling task meanwhile (no thread of the cooperative pool waits). Cancelling the task
    /// terminates the daemon gracefully: it logs `<Name> is terminating`, handles what is
    /// queued, flushes its sends and closes; then this returns normally (no `CancellationError`).
    /// A task cancelled before the daemon exists still lets it open and run its start hooks, then
    /// terminates it. Rethrows `make`'s error or the one the daemon's run ended with.
    ///
    /// ```swift
    /// try await withThrowingTaskGroup(of: Void.self) { group in
    ///     group.addTask { try await DaemonThread.run(name: "worker") { try MyWorker(handlers: Worker()) } }
    ///     …
    ///     group.cancelAll()   // every daemon of the group terminates gracefully
    /// }
    /// ```
    public static func run<D: DaemonHosting>(name: String, stackSize: Int = 8 << 20,
                                              _ make: @escaping @Sendable () throws -> D) async throws {
        let handle = try await start(name: name, stackSize: stackSize, make)
        await withTaskCancellationHandler {
            await handle.finished()
        } onCancel: {
            handle.terminate()
        }
        if let error = handle.error { throw error }
    }
}
