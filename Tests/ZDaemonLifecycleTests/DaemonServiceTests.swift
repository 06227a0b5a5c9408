import ServiceLifecycle
import Testing
import ZDaemon
import ZDaemonLifecycle
import ZDaemonTesting

/// A daemon with one PULL channel on a fresh inproc endpoint.
func pullDaemon(_ name: String, configuration: DaemonConfiguration = DaemonConfiguration()) throws -> Daemon {
    let channel = ChannelSpec(name: "in", socket: .pull, endpoints: [bindEndpoint(.inproc)], bind: true)
    return try Daemon(spec: .test(name, channel), configuration: configuration)
}

@Suite("DaemonService")
struct DaemonServiceTests {
    /// In a ServiceGroup, graceful shutdown terminates the daemon (logged) and the group ends.
    @Test func serviceTerminatesOnGracefulShutdown() async throws {
        let logs = LogCapture()
        let started = Box(false)
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let config = configuration
        let service = DaemonService(name: "graceful") {
            let daemon = try pullDaemon("Graceful", configuration: config)
            daemon.onStart { started.update { $0 = true } }
            return daemon
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: service)], logger: logs.makeLogger("group")))
        let task = Task { try await group.run() }
        while !started.get { try await Task.sleep(for: .milliseconds(5)) }
        await group.triggerGracefulShutdown()
        try await task.value
        #expect(logs.contains("Graceful is terminating"))
    }

    @Test func serviceRunsUntilCancelled() async throws {
        let started = Box(false)
        let service = DaemonService(name: "svc") {
            let daemon = try pullDaemon("Svc")
            daemon.onStart { started.update { $0 = true } }
            return daemon
        }
        let task = Task { try await service.run() }
        while !started.get { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        try await task.value
    }
}
