/// The error of a ``DaemonClient`` call the daemon can no longer carry out: it has finished, or
/// (for a send that waited for room) it terminated first. The call had no effect.
public struct DaemonFinishedError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The daemon's name.
    public var daemon: String
    /// Creates the error.
    public init(daemon: String) { self.daemon = daemon }
    /// `MyServer has finished: the call was not carried out`.
    public var description: String { "\(daemon) has finished: the call was not carried out" }
}

/// A typed, `Sendable` way into a running daemon from any thread or task: typed sends that wait
/// for room, work on the loop with the typed daemon, and its start and finish.
///
/// ```swift
/// let server = try await MyZmq.MyServer.start(name: "server") { try MyZmq.MyServer() }
/// try await server.send { try $0.sendJob(MyZmq.Text(text: "work")) }  // suspends while `job` is full
/// let sent = try await server.withDaemon { $0.counters(.job).sent }
/// server.terminate()
/// try await server.finished()
/// ```
///
/// Every call runs on the daemon's loop. After the daemon has finished, calls throw
/// ``DaemonFinishedError``; none is dropped silently.
public struct DaemonClient<D: TypedDaemon>: Sendable {
    /// The untyped handle underneath.
    public let handle: DaemonHandle

    init(_ handle: DaemonHandle) { self.handle = handle }

    /// The typed client of the daemon behind `handle`, which must run a `D` (a hosting layer that
    /// created it from a `D`, such as `DaemonService`, knows); `nil` when `handle`'s daemon is not
    /// named as `D.spec` is.
    public init?(unchecked handle: DaemonHandle) {
        guard handle.name == D.spec.name else { return nil }
        self.handle = handle
    }

    /// Runs `body` on the loop with the typed daemon and returns what it returns (or throws
    /// what it throws). Throws ``DaemonFinishedError`` when the daemon has finished.
    public func withDaemon<R: Sendable>(_ body: @escaping @Sendable (D) throws -> R) async throws -> R {
        let name = handle.name
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
            let posted = handle.submit { daemon in
                guard let daemon else { return continuation.resume(throwing: DaemonFinishedError(daemon: name)) }
                continuation.resume(with: Result { try body(D(wrapping: daemon)) })
            }
            if !posted { continuation.resume(throwing: DaemonFinishedError(daemon: name)) }
        }
    }

    /// Runs a typed send on the loop (`{ try $0.sendJob(job) }`), suspending while the channel's
    /// send queue is full (``ChannelFullError``): the body is run again when a flush makes room,
    /// so backpressure reaches the caller and nothing is lost. So the body must make exactly one
    /// send (a body with several would repeat those that went out before the full one).
    ///
    /// Throws ``DaemonFinishedError`` when the daemon has finished or terminates while the send
    /// waits, `CancellationError` when the calling task is cancelled while it waits (the message
    /// was not sent), and whatever else the send throws.
    public func send(_ body: @escaping @Sendable (D) throws -> Void) async throws {
        let name = handle.name
        let pending = ClientCall<Void>(daemon: name)
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let posted = handle.submit { daemon in
                    pending.continuation = continuation
                    Self.attempt(body, on: daemon, pending)
                }
                if !posted { continuation.resume(throwing: DaemonFinishedError(daemon: name)) }
            }
        } onCancel: {
            _ = handle.submit { _ in pending.cancel() }
        }
    }

    /// Runs a typed send on the loop without waiting for room: throws ``ChannelFullError``
    /// when the channel's queue is full, ``DaemonFinishedError`` when the daemon has finished.
    public func trySend(_ body: @escaping @Sendable (D) throws -> Void) async throws {
        try await withDaemon(body)
    }

    /// One try of a waiting send, on the loop: done, failed, or waiting for room again.
    private static func attempt(_ body: @escaping @Sendable (D) throws -> Void, on daemon: Daemon?, _ pending: ClientCall<Void>) {
        guard !pending.isFinished else { return }
        if pending.isCancelled { return pending.finish(.failure(CancellationError())) }
        guard let daemon else { return pending.finish(.failure(DaemonFinishedError(daemon: pending.daemon))) }
        do {
            try body(D(wrapping: daemon))
            pending.finish(.success(()))
        } catch let full as ChannelFullError {
            if daemon.isTerminating || daemon.isClosed {
                pending.finish(.failure(DaemonFinishedError(daemon: pending.daemon)))
            } else if !daemon.whenSpace(onChannelNamed: full.channel, { attempt(body, on: $0, pending) }) {
                pending.finish(.failure(full))
            }
        } catch {
            pending.finish(.failure(error))
        }
    }

    /// Sends `request` on the DEALER request `channel` and suspends until its outcome (generated
    /// daemons have a typed method per request channel: `requestQuotes(_:timeout:)`). Any number
    /// of requests may be in flight, each with its own timeout (`timeout`, else the channel's, else
    /// 5 s). Returns the reply; throws ``RequestFailure`` (the declared error, a failure on the
    /// server, or the timeout), ``DaemonFinishedError`` when the daemon has finished or terminates
    /// first, `CancellationError` when the calling task is cancelled (the request is forgotten: its
    /// reply counts as late), or ``ChannelFullError`` when the request cannot be queued.
    public func request<Q: FrameMessage, R: FrameMessage, E: FrameMessage & Error>(
        _ channel: D.Channel, _ request: Q, timeout: Duration? = nil, reply: R.Type, error: E.Type
    ) async throws -> R {
        let name = handle.name
        let index = channel.rawValue
        let frames = try request.encodeFrames()
        let pending = ClientCall<R>(daemon: name)
        let handle = self.handle
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, any Error>) in
                let posted = handle.submit { daemon in
                    pending.continuation = continuation
                    if pending.isCancelled { return pending.finish(.failure(CancellationError())) }
                    guard let daemon else { return pending.finish(.failure(DaemonFinishedError(daemon: name))) }
                    do {
                        pending.id = try daemon.call(frames, on: index, timeout: timeout) { outcome in
                            guard let outcome else { return pending.finish(.failure(DaemonFinishedError(daemon: name))) }
                            pending.finish(outcome.typed(R.self, E.self).mapError { $0 })
                        }
                    } catch {
                        pending.finish(.failure(error))
                    }
                }
                if !posted { continuation.resume(throwing: DaemonFinishedError(daemon: name)) }
            }
        } onCancel: {
            _ = handle.submit { daemon in
                if let id = pending.id { daemon?.cancelCall(id, on: index) }
                pending.cancel()
            }
        }
    }

    /// The messages of a streamed channel (``TypedDaemon/streamMessages(_:as:)``; generated
    /// daemons have a typed property per streamed channel, `jobMessages`). Iterating a channel
    /// that is not streamed, or not as `M`, throws an error that says so.
    public func messages<M: FrameMessage>(_ channel: D.Channel, as type: M.Type = M.self) -> InboundMessages<M> {
        handle.messages(channel.rawValue, channelName: D.spec.channels[channel.rawValue].name, as: M.self)
    }

    /// Suspends until the daemon has started (or finished without starting).
    public func started() async { await handle.started() }

    /// Suspends until the daemon has finished, then rethrows the error its run ended with.
    public func finished() async throws {
        await handle.finished()
        if let error = handle.error { throw error }
    }

    /// Terminates the daemon gracefully (``Daemon/terminate()``), from any thread.
    public func terminate() { handle.terminate() }
}

/// A client call in flight (a send waiting for room, a request awaiting its reply), touched on
/// the daemon's loop thread only: its continuation is resumed once, by the outcome, its failure,
/// the daemon's end, or the caller's cancellation.
final class ClientCall<R: Sendable>: @unchecked Sendable {
    /// The daemon's name, for the errors.
    let daemon: String
    var continuation: CheckedContinuation<R, any Error>?
    /// A request's id on its channel, once sent.
    var id: UInt64?
    private(set) var isCancelled = false
    private(set) var isFinished = false

    init(daemon: String) { self.daemon = daemon }

    func finish(_ result: Result<R, any Error>) {
        guard !isFinished else { return }
        isFinished = true
        continuation?.resume(with: result)
    }

    /// The caller was cancelled: a call that is not done fails with `CancellationError` (now, if
    /// it waits; when it would start, if that has not happened yet).
    func cancel() {
        guard !isFinished else { return }
        isCancelled = true
        if continuation != nil { finish(.failure(CancellationError())) }
    }
}

extension TypedDaemon {
    /// Creates the daemon with `make` on a thread of its own and runs it there; returns its
    /// typed client once the daemon exists (suspending, never blocking the cooperative pool;
    /// await ``DaemonClient/started()`` for its channels to be open).
    public static func start(name: String, _ make: @escaping @Sendable () throws -> Self) async throws -> DaemonClient<Self> {
        DaemonClient(try await DaemonThread.start(name: name, make))
    }

    /// Runs the daemon made by `make` on a thread of its own for as long as `body` runs, the
    /// structured way (as grpc-swift's `withGRPCServer`): once its channels are open, `body` gets
    /// its typed client; when `body` returns or throws, the daemon terminates gracefully — it
    /// handles what is queued and flushes its sends — and this returns after it has finished.
    /// Cancelling the calling task terminates the daemon at once, so that `body`'s calls end
    /// (sends throw, streams end) and it returns.
    ///
    /// Throws `make`'s error, or the one opening the channels failed with (such as
    /// `bind tcp://127.0.0.1:9090: Address already in use`) without running `body`; then `body`'s
    /// error; then the error the daemon's run ended with.
    ///
    /// ```swift
    /// try await MyZmq.MyServer.withRunning(name: "server", { try MyZmq.MyServer() }) { server in
    ///     try await server.send { try $0.sendJob(MyZmq.Text(text: "work")) }
    /// }
    /// ```
    public static func withRunning<R>(name: String, isolation: isolated (any Actor)? = #isolation,
                                      _ make: @escaping @Sendable () throws -> Self,
                                      _ body: (DaemonClient<Self>) async throws -> R) async throws -> R {
        let client = try await start(name: name, make)
        await client.started()
        if client.handle.isFinished {
            throw client.handle.error ?? DaemonFinishedError(daemon: client.handle.name)
        }
        let result: Result<R, any Error>
        do {
            result = .success(try await withTaskCancellationHandler {
                try await body(client)
            } onCancel: {
                client.terminate()
            })
        } catch {
            result = .failure(error)
        }
        client.terminate()
        await client.handle.finished()
        let value = try result.get()
        if let error = client.handle.error { throw error }
        return value
    }
}
