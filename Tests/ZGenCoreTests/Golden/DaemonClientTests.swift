import Foundation
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
    /// A PULL bound on a fresh inproc endpoint with the smallest receive pipe (hwm 1); it reads
    /// only when a test says so.
    func smallSink() throws -> (Socket, String) {
        let endpoint = bindEndpoint(.inproc)
        let sink = try Socket(.pull, linger: 0)
        try sink.setOption(.receiveHWM(1))
        _ = try sink.bind(endpoint)
        return (sink, endpoint)
    }

    /// A producer whose `out` connects to `endpoint` with the smallest pipe: hwm 1, a queue of 2.
    func producer(_ endpoint: String, queue: Int = 2) async throws -> DaemonClient<Pipeline.Producer> {
        var settings = DaemonConfiguration()
        Pipeline.Producer.override(.out, with: ChannelOverride(endpoints: [endpoint], bind: false, hwm: 1, queue: queue), in: &settings)
        let configuration = settings
        let client = try await Pipeline.Producer.start(name: "producer") { try Pipeline.Producer(configuration: configuration) }
        await client.started()
        return client
    }

    @Test("an awaited send on a full queue suspends, resumes when the peer drains, and loses nothing")
    func awaitedSendSuspendsUntilThePeerDrains() async throws {
        let (sink, endpoint) = try smallSink()
        defer { sink.close(linger: 0) }
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
        #expect(try await eventually(client) { $0.counters(.out).refused >= 1 })  // a send has tried and now waits
        let stalled = progress.done
        #expect(stalled < total)
        // The loop goes on with other work meanwhile; the waiting send does not complete.
        for _ in 0..<20 { try await client.withDaemon { _ in } }
        #expect(progress.done == stalled, "sends went on while the queue was full")
        // The peer drains: every message arrives, once, in order, and the sender finishes.
        let received = try await readItems(from: sink, count: total)
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

extension DaemonClientTests {
    @Test("cancelling a task whose send waits for room throws CancellationError, and that message is never sent")
    func cancellingAWaitingSend() async throws {
        let (sink, endpoint) = try smallSink()
        defer { sink.close(linger: 0) }
        let client = try await producer(endpoint)
        var sent: [UInt64] = []
        // Fill the pipe and the queue without waiting.
        for sequence in UInt64(0)..<100 {
            do {
                try await client.trySend { try $0.sendOut(Pipeline.Item(sequence: sequence, body: [], labels: [])) }
                sent.append(sequence)
            } catch is ChannelFullError { break }
        }
        let waiting = Task { try await client.send { try $0.sendOut(Pipeline.Item(sequence: 1000, body: [], labels: [])) } }
        let refused = try await client.withDaemon { $0.counters(.out).refused }
        #expect(try await eventually(client) { $0.counters(.out).refused > refused })  // it has tried and waits
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        // The peer drains: what was sent arrives; the cancelled message does not.
        var received = try await readItems(from: sink, count: sent.count)
        try await client.send { try $0.sendOut(Pipeline.Item(sequence: 2000, body: [], labels: [])) }
        received += try await readItems(from: sink, count: 1)
        #expect(received == sent + [2000])
        client.terminate()
        try await client.finished()
    }

    @Test("on a channel without a queue, a send the socket refuses waits until the socket is writable")
    func waitingWithoutAQueue() async throws {
        let (sink, endpoint) = try smallSink()
        defer { sink.close(linger: 0) }
        let client = try await producer(endpoint, queue: 0)
        let total = 50
        let sender = Task {
            for sequence in 0..<total { try await client.send { try $0.sendOut(Pipeline.Item(sequence: UInt64(sequence), body: [], labels: [])) } }
        }
        #expect(try await eventually(client) { $0.counters(.out).refused >= 1 })  // the pipe is full: a send waits
        let received = try await readItems(from: sink, count: total)
        try await sender.value
        #expect(received == (0..<UInt64(total)).map { $0 })
        client.terminate()
        try await client.finished()
    }
}

/// Reads `count` items from `sink` on a thread of its own (a blocking read in an async test would
/// hold one of the cooperative pool's two threads, which the daemons' clients need), at most 10 s
/// of waiting per item.
func readItems(from sink: Socket, count: Int) async throws -> [UInt64] {
    nonisolated(unsafe) let socket = sink
    return try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result {
                var items: [UInt64] = []
                while items.count < count, try socket.poll(.readable, timeout: .seconds(10)).contains(.readable) {
                    while items.count < count, let frames = try socket.receive(dontWait: true) {
                        items.append(try Pipeline.Item(frames: frames).sequence)
                    }
                }
                return items
            })
        }
    }
}

/// Polls `condition` on the daemon's loop until it holds, for at most `timeout` of waiting,
/// counted in steps of at most 50 ms like ZDaemonTesting's `eventually`: while the parallel suite
/// keeps the cooperative pool busy, this task does not run, and that must not use up the timeout.
func eventually<D: TypedDaemon>(_ client: DaemonClient<D>, timeout: Duration = .seconds(10),
                                _ condition: @escaping @Sendable (D) -> Bool) async throws -> Bool {
    var waited = Duration.zero
    var last = ContinuousClock.now
    while waited < timeout {
        if try await client.withDaemon(condition) { return true }
        try await Task.sleep(for: .milliseconds(2))
        let now = ContinuousClock.now
        waited += min(now - last, .milliseconds(50))
        last = now
    }
    return try await client.withDaemon(condition)
}
