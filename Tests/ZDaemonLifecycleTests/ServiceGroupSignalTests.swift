import Foundation
import ServiceLifecycle
import Testing
import ZDaemon
import ZDaemonLifecycle
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The one channel of the daemons below.
private enum Out: Int, DaemonChannel { case out }

/// A service that waits for the group's graceful shutdown and prints `GRACEFUL` (a group that is
/// cancelled instead throws out of the wait, and it prints nothing).
private struct AwaitsGracefulShutdown: Service {
    func run() async throws {
        try await gracefulShutdown()
        print("GRACEFUL")
    }
}

/// A service that prints `FINISHED <name>` when the one it wraps has returned.
private struct Reporting: Service {
    let name: String
    let inner: DaemonService

    func run() async throws {
        try await inner.run()
        print("FINISHED \(name)")
    }
}

@Suite("DaemonService in a ServiceGroup under SIGTERM")
struct ServiceGroupSignalTests {
    static let isolated = isolatedTestMode == "service-group-sigterm"

    @Test("a daemon that finishes on purpose (.ignore) leaves the group running; SIGTERM then ends the other gracefully, exit 0",
          .disabled(if: isolated))
    func finishingDaemonAndSigterm() throws {
        let child = try startIsolatedTest("serviceGroupChild", mode: "service-group-sigterm")
        // The finisher ends on its own; the group, and the runner in it, go on.
        #expect(child.waitForLine(containing: "FINISHED Finisher"), "\(child.lines.joined(separator: "\n"))")
        #expect(child.waitForLine(containing: "READY Runner"), "\(child.lines.joined(separator: "\n"))")
        // The runner is still up: the finisher's end did not tear the group down.
        #expect(child.process.isRunning)
        #expect(!child.lines.contains { $0.contains("Runner is terminating") || $0.contains("GRACEFUL") })
        child.signal(SIGTERM)
        let status = child.waitForExit(timeout: 30)
        let output = child.lines.joined(separator: "\n")
        #expect(status == 0, "\(output)")
        // A graceful shutdown, not a cancelled group: the services were told to shut down.
        #expect(output.contains("GRACEFUL"), "\(output)")
        #expect(output.contains("Runner is terminating") && output.contains("FINISHED Runner"), "\(output)")
        #expect(output.contains("with 1 test") && output.contains("passed"), "\(output)")
    }

    @Test("(in the child process) a ServiceGroup with a finishing daemon and a running one", .enabled(if: isolated))
    func serviceGroupChild() async throws {
        let sink = try Socket(.pull, linger: 0)
        defer { sink.close(linger: 0) }
        let endpoint = try sink.bind(bindEndpoint(.inproc))
        let finisher = DaemonService(name: "finisher") {
            let daemon = try Daemon(spec: .test("Finisher", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint])))
            daemon.onStart { daemon.loop.execute { daemon.terminate() } }  // the seed's worker on EXIT
            return daemon
        }
        let runner = DaemonService(name: "runner") {
            let daemon = try Daemon(spec: .test("Runner", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint])))
            daemon.onStart { print("READY Runner") }
            daemon.onWillTerminate { try daemon.send([Array("bye from Runner".utf8)], on: Out.out) }
            return daemon
        }
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [
                .init(service: Reporting(name: "Finisher", inner: finisher), successTerminationBehavior: .ignore),
                .init(service: Reporting(name: "Runner", inner: runner)),
                .init(service: AwaitsGracefulShutdown()),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: Logger(label: "group")))
        try await group.run()
        // The runner's farewell, sent as it terminated, was flushed.
        #expect(try sink.poll(.readable, timeout: .seconds(10)).contains(.readable))
        #expect(try sink.receive(dontWait: true).map { String(decoding: $0[0], as: UTF8.self) } == "bye from Runner")
    }
}
