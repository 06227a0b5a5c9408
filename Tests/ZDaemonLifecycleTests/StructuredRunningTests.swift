import Foundation
import Testing
import ZDaemon
import ZDaemonTesting

/// The one channel of the farewell daemons below.
enum FarewellChannel: Int, DaemonChannel { case out }

@Suite("Daemons from async code")
struct StructuredRunningTests {
    /// Set in the child process that ``eightDaemonsStartTogether()`` starts.
    static let isolated = isolatedTestMode == "eight-daemons"

    @Test("eight daemons started from one task group all report started within 2 s (no blocking wait on the cooperative pool)",
          .disabled(if: isolated))
    func eightDaemonsStartTogether() throws {
        // In a process of its own: in this one, the parallel suite's synchronous tests keep the
        // cooperative pool's threads busy, which would measure them instead.
        let run = try runIsolatedTest("eightDaemonsStartInIsolation", mode: "eight-daemons")
        #expect(run.status == 0 && run.oneTestPassed, "\(run.output)")
    }

    @Test("(in the child process) eight daemons from one task group start within 2 s", .enabled(if: isolated))
    func eightDaemonsStartInIsolation() async throws {
        // Each daemon's creation waits until all eight are being created: a start that blocked
        // a pool thread until its daemon existed would never let the eight overlap.
        let barrier = Barrier(parties: 8)
        let begin = ContinuousClock.now
        let handles = try await withThrowingTaskGroup(of: DaemonHandle.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let handle = try await DaemonThread.start(name: "async-\(index)") {
                        guard barrier.arriveAndWait(timeout: .seconds(2)) else { throw DaemonTestError("the eight creations never overlapped") }
                        return try pullDaemon("Async\(index)")
                    }
                    await handle.started()
                    return handle
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let elapsed = ContinuousClock.now - begin
        #expect(handles.count == 8)
        #expect(handles.allSatisfy { $0.isStarted })
        #expect(elapsed < .seconds(2), "eight daemons took \(elapsed) to start")
        for handle in handles { handle.terminate() }
        for handle in handles { await handle.finished() }
        #expect(handles.allSatisfy { $0.error == nil })
    }

    @Test("cancelling a task group that runs three daemons terminates each gracefully: it logs terminating and flushes")
    func cancellingTheGroupTerminatesGracefully() async throws {
        let logs = LogCapture()
        let sink = try Socket(.pull, linger: 0)
        defer { sink.close(linger: 0) }
        let endpoint = try sink.bind(bindEndpoint(.inproc))
        let (starts, started) = AsyncStream.makeStream(of: Int.self)
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let settings = configuration
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<3 {
                group.addTask {
                    try await DaemonThread.run(name: "farewell-\(index)") {
                        let spec = DaemonSpec.test("Farewell\(index)", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint]))
                        let daemon = try Daemon(spec: spec, configuration: settings)
                        daemon.onStart { started.yield(index) }
                        // What a daemon sends as it terminates must still go out: the flush.
                        daemon.onWillTerminate { try daemon.send([Array("bye \(index)".utf8)], on: FarewellChannel.out) }
                        return daemon
                    }
                }
            }
            var running = 0
            for await _ in starts {
                running += 1
                if running == 3 { break }
            }
            group.cancelAll()
            try await group.waitForAll()
        }
        var farewells: [String] = []
        while farewells.count < 3, try sink.poll(.readable, timeout: .seconds(10)).contains(.readable) {
            while let frames = try sink.receive(dontWait: true) { farewells.append(String(decoding: frames[0], as: UTF8.self)) }
        }
        #expect(farewells.sorted() == ["bye 0", "bye 1", "bye 2"])
        for index in 0..<3 { #expect(logs.messages.contains("Farewell\(index) is terminating")) }
    }

    @Test("a daemon whose creation fails reports the error to the awaiting task")
    func creationErrorIsThrown() async throws {
        await #expect(throws: ZDaemonError.self) {
            try await DaemonThread.run(name: "broken") {
                try Daemon(spec: .test("Broken", ChannelSpec(name: "in", socket: .pull, endpoints: [bindEndpoint(.inproc)], bind: true)),
                           configuration: { var c = DaemonConfiguration(); c.channels["nope"] = ChannelOverride(); return c }())
            }
        }
    }
}

/// Blocks each arriving thread until `parties` have arrived, or `timeout` passed (then `false`).
final class Barrier: @unchecked Sendable {
    private let condition = NSCondition()
    private let parties: Int
    private var arrived = 0

    init(parties: Int) { self.parties = parties }

    func arriveAndWait(timeout: Duration) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        arrived += 1
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds))
        while arrived < parties {
            if !condition.wait(until: deadline) { return arrived >= parties }
        }
        return true
    }
}
