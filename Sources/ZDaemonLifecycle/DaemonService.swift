import ServiceLifecycle
import ZDaemon

/// A swift-service-lifecycle `Service` that runs a daemon on its own thread until graceful
/// shutdown (or cancellation), which terminates it.
public struct DaemonService: Service {
    private let start: @Sendable () async throws -> DaemonHandle

    /// Wraps a daemon created by `make` on a thread named `name` when the service runs.
    public init<D: DaemonHosting>(name: String, _ make: @escaping @Sendable () throws -> D) {
        start = { try await DaemonThread.start(name: name, make) }
    }

    /// Runs the daemon until it finishes; graceful shutdown or cancellation terminates it.
    /// Rethrows the error the daemon's run ended with.
    public func run() async throws {
        let handle = try await start()  // suspends: no thread of the cooperative pool waits
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await handle.finished()
            } onGracefulShutdown: {
                handle.terminate()
            }
        } onCancel: {
            handle.terminate()
        }
        if let error = handle.error { throw error }
    }
}
