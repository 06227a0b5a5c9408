import ServiceLifecycle
import Synchronization
import ZDaemon

/// A swift-service-lifecycle `Service` that runs a daemon on its own thread until graceful
/// shutdown (or cancellation), which terminates it gracefully.
///
/// Other services reach the daemon through ``handle()``, or for a generated daemon its typed
/// client, ``client(_:)``: both suspend until the service has created the daemon.
public struct DaemonService: Service {
    private let start: @Sendable () async throws -> DaemonHandle
    private let created = CreatedDaemon()
    /// The daemon type `make` returns, so that ``client(_:)`` can check the type asked for.
    private let hostedType: ObjectIdentifier

    /// Wraps a daemon created by `make` on a thread named `name` when the service runs.
    public init<D: DaemonHosting>(name: String, _ make: @escaping @Sendable () throws -> D) {
        start = { try await DaemonThread.start(name: name, make) }
        hostedType = ObjectIdentifier(D.self)
    }

    /// Runs the daemon until it finishes; graceful shutdown or cancellation terminates it.
    /// Rethrows the error the daemon's creation or run ended with.
    public func run() async throws {
        let handle: DaemonHandle
        do {
            handle = try await start()  // suspends: no thread of the cooperative pool waits
        } catch {
            created.resolve(.failure(error))
            throw error
        }
        created.resolve(.success(handle))
        await Self.awaitFinish(of: handle)
        if let error = handle.error { throw error }
    }

    /// Waits until the daemon behind `handle` has finished; graceful shutdown (of the
    /// `ServiceGroup` running the calling service) calls `onGracefulShutdown` (by default it
    /// terminates the daemon), and cancellation terminates the daemon. For services of your own
    /// that host a daemon.
    public static func awaitFinish(of handle: DaemonHandle,
                                   onGracefulShutdown: @escaping @Sendable () -> Void = {}) async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await handle.finished()
            } onGracefulShutdown: {
                onGracefulShutdown()
                handle.terminate()
            }
        } onCancel: {
            handle.terminate()
        }
    }

    /// The daemon's handle, once ``run()`` has created the daemon (suspends until then); throws
    /// the error creating it failed with, or `CancellationError` when the waiting task is cancelled.
    public func handle() async throws -> DaemonHandle {
        try await created.value()
    }

    /// The typed client of the generated daemon this service runs (suspends until it exists):
    /// `let worker = try await service.client(MyZmq.MyWorker.self)`. Throws the error creating it
    /// failed with, or ``DaemonServiceTypeError`` when the service runs another type.
    public func client<D: TypedDaemon>(_ type: D.Type) async throws -> DaemonClient<D> {
        guard hostedType == ObjectIdentifier(D.self) else { throw DaemonServiceTypeError(requested: "\(D.self)") }
        let handle = try await created.value()
        guard let client = DaemonClient<D>(unchecked: handle) else { throw DaemonServiceTypeError(requested: "\(D.self)") }
        return client
    }
}

/// ``DaemonService/client(_:)`` was asked for a daemon type the service does not run.
public struct DaemonServiceTypeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The type asked for.
    public var requested: String
    /// Creates the error.
    public init(requested: String) { self.requested = requested }
    /// `this DaemonService does not run a MyWorker`.
    public var description: String { "this DaemonService does not run a \(requested)" }
}

/// The outcome of creating a service's daemon, awaited by ``DaemonService/handle()``.
final class CreatedDaemon: Sendable {
    private struct State {
        var result: Result<DaemonHandle, any Error>?
        var nextID = 0
        var waiters: [Int: CheckedContinuation<DaemonHandle, any Error>] = [:]
        /// Waits cancelled before they were added.
        var cancelled: Set<Int> = []
    }

    private let state = Mutex(State())

    func resolve(_ result: Result<DaemonHandle, any Error>) {
        let waiters = state.withLock { state in
            state.result = result
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// The outcome, once there is one; a cancelled wait throws `CancellationError`.
    func value() async throws -> DaemonHandle {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let result: Result<DaemonHandle, any Error>? = state.withLock { state in
                    if let result = state.result { return result }
                    if state.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let result { continuation.resume(with: result) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    if state.result == nil { state.cancelled.insert(id) }
                    return nil as CheckedContinuation<DaemonHandle, any Error>?
                }
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
