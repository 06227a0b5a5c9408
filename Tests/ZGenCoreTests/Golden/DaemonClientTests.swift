import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

// The typed Sendable client of a generated daemon (Pipeline.Producer: one PUSH channel `out`).

/// How many awaited sends have returned, for the test thread.
final class Progress: Sendable {
    private let count = Mutex(0)
    func step() { count.withLock { $0 += 1 } }
    var done: Int { count.withLock { $0 } }
}

@Suite("Typed daemon client")
struct DaemonClientTests {
    /// A producer whose `out` connects to `endpoint` with the smallest pipe: hwm 1, a queue of 2.
    func producer(_ endpoint: String) async throws -> DaemonClient<Pipeline.Producer> {
        var settings = DaemonConfiguration()
        Pipeline.Producer.override(.out, with: ChannelOverride(endpoints: [endpoint], bind: false, hwm: 1, queue: 2), in: &settings)
        let configuration = settings
        let client = try await Pipeline.Producer.start(name: "producer") { try Pipeline.Producer(configuration: configuration) }
        await client.started()
        return client
    }

    @Test("an awaited send on a full queue suspends, resumes when the peer drains, and loses nothing")
    func awaitedSendSuspendsUntilThePeerDrains() async throws {
        let endpoint = bindEndpoint(.inproc)
        let sink = try Socket(.pull, linger: 0)
        defer { sink.close(linger: 0) }
        try sink.setOption(.receiveHWM(1))
        _ = try sink.bind(endpoint)
        let client = try await producer(endpoint)
        let total = 200
        let progress = Progress()
        let sender = Task {
            for sequence in 0..<total {
                try await client.send { try $0.sendOut(Pipeline.Item(sequence: UInt64(sequence), body: [], labels: [])) }
                progress.step()
            }
        }
        // The sink reads nothing yet: the sends fill the pipe and the queue, then one waits.
        #expect(try await eventually(client) { $0.queuedSends(.out) == 2 })
        let stalled = progress.done
        #expect(stalled < total)
        #expect(try await client.withDaemon { $0.counters(.out).refused } >= 1)  // the waiting send was refused once
        // The loop goes on with other work meanwhile; the waiting send does not complete.
        for _ in 0..<20 { try await client.withDaemon { _ in } }
        #expect(progress.done == stalled, "sends went on while the queue was full")
        // The peer drains: every message arrives, once, in order, and the sender finishes.
        var received: [UInt64] = []
        while received.count < total, try sink.poll(.readable, timeout: .seconds(10)).contains(.readable) {
            while let frames = try sink.receive(dontWait: true) { received.append(try Pipeline.Item(frames: frames).sequence) }
        }
        try await sender.value
        #expect(received == (0..<UInt64(total)).map { $0 })
        #expect(progress.done == total)
        client.terminate()
        try await client.finished()
    }

    @Test("calls on the client after the daemon finished throw DaemonFinishedError; a waiting send fails when it terminates")
    func callsAfterFinishThrow() async throws {
        let endpoint = bindEndpoint(.inproc)
        let client = try await producer(endpoint)  // nobody reads: the queue fills
        for sequence in 0..<3 { try await client.trySend { try $0.sendOut(Pipeline.Item(sequence: UInt64(sequence), body: [], labels: [])) } }
        await #expect(throws: ChannelFullError(channel: "out", queued: 2)) {
            try await client.trySend { try $0.sendOut(Pipeline.Item(sequence: 9, body: [], labels: [])) }
        }
        let waiting = Task { try await client.send { try $0.sendOut(Pipeline.Item(sequence: 10, body: [], labels: [])) } }
        #expect(try await eventually(client) { $0.counters(.out).refused >= 2 })  // the waiting send has tried
        client.terminate()
        await #expect(throws: DaemonFinishedError(daemon: "Producer")) { try await waiting.value }
        try await client.finished()
        await #expect(throws: DaemonFinishedError(daemon: "Producer")) { try await client.withDaemon { $0.queuedSends(.out) } }
        await #expect(throws: DaemonFinishedError(daemon: "Producer")) {
            try await client.send { try $0.sendOut(Pipeline.Item(sequence: 11, body: [], labels: [])) }
        }
        #expect("\(DaemonFinishedError(daemon: "Producer"))" == "Producer has finished: the call was not carried out")
    }
}

/// Polls `condition` on the daemon's loop until it holds (at most `timeout` of waiting).
func eventually<D: TypedDaemon>(_ client: DaemonClient<D>, timeout: Duration = .seconds(10),
                                _ condition: @escaping @Sendable (D) -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await client.withDaemon(condition) { return true }
        try await Task.sleep(for: .milliseconds(2))
    }
    return try await client.withDaemon(condition)
}
