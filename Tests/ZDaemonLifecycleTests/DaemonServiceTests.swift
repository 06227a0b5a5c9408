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

/// A typed daemon for the service's client: one PULL channel on a fresh inproc endpoint.
struct ServicePull: TypedDaemon {
    enum Channel: Int, DaemonChannel, CaseIterable { case input }
    static let spec = DaemonSpec(name: "ServicePull", title: "(service-pull)", app: "test", channels: [
        ChannelSpec(name: "input", socket: .pull, endpoints: ["inproc://replaced"], bind: true),
    ])
    let daemon: Daemon
    init(wrapping daemon: Daemon) { self.daemon = daemon }
}

extension DaemonServiceTests {
    @Test("other tasks reach the service's daemon through its typed client once it runs; another type is refused")
    func serviceExposesItsClient() async throws {
        let service = DaemonService(name: "typed") {
            var configuration = DaemonConfiguration()
            ServicePull.override(.input, with: ChannelOverride(endpoints: [bindEndpoint(.inproc)]), in: &configuration)
            return ServicePull(wrapping: try Daemon(spec: ServicePull.spec, configuration: configuration))
        }
        let task = Task { try await service.run() }
        let client = try await service.client(ServicePull.self)
        await client.started()
        #expect(try await client.withDaemon { $0.counters(.input) } == ChannelCounters())
        #expect(try await service.handle().name == "ServicePull")
        await #expect(throws: DaemonServiceTypeError(requested: "OtherPull")) { try await service.client(OtherPull.self) }
        task.cancel()
        try await task.value
        await #expect(throws: DaemonFinishedError(daemon: "ServicePull")) { try await client.withDaemon { _ in } }
    }

    @Test("a daemon that cannot be created: the service throws, and so does a task waiting for its handle")
    func creationFailureReachesWaiters() async throws {
        let service = DaemonService(name: "broken") { () throws -> Daemon in throw ZDaemonError("no daemon today") }
        let waiter = Task { try await service.handle() }
        await #expect(throws: ZDaemonError("no daemon today")) { try await service.run() }
        await #expect(throws: ZDaemonError("no daemon today")) { try await waiter.value }
    }
}

/// Another typed daemon, which the service above does not run.
struct OtherPull: TypedDaemon {
    enum Channel: Int, DaemonChannel, CaseIterable { case input }
    static let spec = ServicePull.spec
    let daemon: Daemon
    init(wrapping daemon: Daemon) { self.daemon = daemon }
}
