import Foundation
import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

// Streamed channels (`"stream": true`): Streams.Collector's `jobs` and `notices`, Streams.Sink's
// `jobs`, read with `for try await` from the daemons' clients.

/// The Collector's one handled channel, which these tests leave alone.
final class IgnoreControl: Streams.CollectorHandlers {
    func onControl(_ message: Streams.Notice, daemon: Streams.Collector) throws {}
}

/// A count shared between consumer tasks.
final class SharedCount: Sendable {
    private let value = Mutex(0)
    /// Adds one and returns the new count.
    func increment() -> Int { value.withLock { $0 += 1; return $0 } }
}

@Suite("Streamed channels")
struct StreamTests {
    /// A Feeder binding `jobs` on `endpoint` (hwm and queue small when asked), started.
    func feeder(_ endpoint: String, hwm: Int32? = nil, queue: Int? = nil) async throws -> DaemonClient<Streams.Feeder> {
        var settings = DaemonConfiguration()
        Streams.Feeder.override(.jobs, with: ChannelOverride(endpoints: [endpoint], hwm: hwm, queue: queue), in: &settings)
        Streams.Feeder.override(.notices, with: ChannelOverride(endpoints: [bindEndpoint(.inproc)]), in: &settings)
        let configuration = settings
        let client = try await Streams.Feeder.start(name: "feeder") { try Streams.Feeder(configuration: configuration) }
        await client.started()
        return client
    }

    /// A Collector whose `jobs` connects to `endpoint`, buffering `buffer` messages per stream.
    func collector(_ endpoint: String, buffer: Int = 64, hwm: Int32? = nil, logs: LogCapture? = nil)
        async throws -> DaemonClient<Streams.Collector>
    {
        var settings = DaemonConfiguration()
        settings.streamBuffer = buffer
        if let logs { settings.makeLogger = logs.configurationLogger }
        Streams.Collector.override(.jobs, with: ChannelOverride(endpoints: [endpoint], hwm: hwm), in: &settings)
        Streams.Collector.override(.notices, with: ChannelOverride(endpoints: [bindEndpoint(.inproc)]), in: &settings)
        Streams.Collector.override(.control, with: ChannelOverride(endpoints: [bindEndpoint(.inproc)]), in: &settings)
        let configuration = settings
        let client = try await Streams.Collector.start(name: "collector") {
            try Streams.Collector(handlers: IgnoreControl(), configuration: configuration)
        }
        await client.started()
        return client
    }

    /// Terminates a collector and a feeder and waits until both have finished.
    func stop(_ collector: DaemonClient<Streams.Collector>, _ feeder: DaemonClient<Streams.Feeder>) async throws {
        collector.terminate()
        feeder.terminate()
        try await collector.finished()
        try await feeder.finished()
    }

    static func job(_ sequence: Int) -> Streams.Job { Streams.Job(sequence: UInt64(sequence), body: "job \(sequence)") }

    /// A job whose body (256 bytes) is a heap allocation once decoded, so that buffered messages
    /// show in resident memory.
    static func largeJob(_ sequence: Int) -> Streams.Job {
        let label = "job \(sequence) "
        return Streams.Job(sequence: UInt64(sequence), body: label + String(repeating: "x", count: 256 - label.utf8.count))
    }

    @Test("a streamed channel yields every typed message in order, through the client")
    func messagesArriveInOrder() async throws {
        let endpoint = bindEndpoint(.inproc)
        let feeder = try await feeder(endpoint)
        let collector = try await collector(endpoint)
        let total = 500
        let sender = Task { for sequence in 0..<total { try await feeder.send { try $0.sendJobs(Self.job(sequence)) } } }
        let received = try await take(total, from: collector.jobsMessages)
        try await sender.value
        #expect(received == (0..<total).map(Self.job))
        #expect(try await collector.withDaemon { $0.counters(.jobs) } == ChannelCounters(received: total))
        try await stop(collector, feeder)
    }

    @Test("a full stream buffer stops the reading of the socket, so the sender is held back; nothing is lost")
    func aFullBufferPushesBack() async throws {
        let endpoint = bindEndpoint(.inproc)
        let feeder = try await feeder(endpoint, hwm: 10, queue: 10)
        let collector = try await collector(endpoint, buffer: 8, hwm: 10)
        let total = 300
        let progress = Progress()
        let sender = Task {
            for sequence in 0..<total {
                try await feeder.send { try $0.sendJobs(Self.job(sequence)) }
                progress.step()
            }
        }
        // Nobody consumes: the daemon reads exactly the buffer's 8 messages, then stops reading.
        #expect(try await eventually(collector) { $0.isReceivePaused(.jobs) })
        #expect(try await eventually(feeder) { $0.counters(.jobs).refused >= 1 })  // the feeder's queue is full, a send waits
        #expect(try await collector.withDaemon { $0.counters(.jobs).received } == 8)
        #expect(progress.done < total, "every send went through while the stream was full")
        // A consumer drains it: every message arrives, once, in order; the sender finishes.
        let received = try await take(total, from: collector.jobsMessages).map(\.sequence)
        try await sender.value
        #expect(received == (0..<UInt64(total)).map { $0 })
        #expect(try await collector.withDaemon { $0.counters(.jobs) } == ChannelCounters(received: total))
        try await stop(collector, feeder)
    }

    @Test("several consumers share a stream: each message goes to one of them, each sees its share in order")
    func consumersShareAStream() async throws {
        let endpoint = bindEndpoint(.inproc)
        let feeder = try await feeder(endpoint)
        let collector = try await collector(endpoint, buffer: 4)
        let total = 1000
        let taken = SharedCount()
        let jobs = collector.jobsMessages
        let consumers = (0..<2).map { _ in
            Task {
                var mine: [Int] = []
                for try await job in jobs {
                    mine.append(Int(job.sequence))
                    if taken.increment() == total { collector.terminate() }  // the others' loops end with the stream
                }
                return mine
            }
        }
        for sequence in 0..<total { try await feeder.send { try $0.sendJobs(Self.job(sequence)) } }
        var shares: [[Int]] = []
        for consumer in consumers { shares.append(try await consumer.value) }
        #expect(shares.flatMap { $0 }.sorted() == Array(0..<total))
        for share in shares { #expect(share == share.sorted()) }
        try await collector.finished()
        feeder.terminate()
        try await feeder.finished()
    }

    @Test("a malformed message is counted as dropped and skipped; the stream goes on")
    func malformedMessagesAreSkipped() async throws {
        let endpoint = bindEndpoint(.inproc)
        var settings = DaemonConfiguration()
        Streams.Sink.override(.jobs, with: ChannelOverride(endpoints: [endpoint]), in: &settings)
        let configuration = settings
        let sink = try await Streams.Sink.start(name: "sink") { try Streams.Sink(configuration: configuration) }
        await sink.started()
        let peer = try Socket(.push, linger: 1000)
        defer { peer.close(linger: 0) }
        try peer.connect(endpoint)
        try peer.send(Self.job(1).encodeFrames())
        try peer.send([Array("no sequence frame".utf8)])  // one frame of two
        try peer.send(Self.job(2).encodeFrames())
        #expect(try await take(2, from: sink.jobsMessages) == [Self.job(1), Self.job(2)])
        #expect(try await sink.withDaemon { $0.counters(.jobs) } == ChannelCounters(received: 3, dropped: 1))
        sink.terminate()
        try await sink.finished()
    }

    @Test("when the daemon finishes, the stream yields what is buffered and then ends")
    func theStreamEndsWithTheDaemon() async throws {
        let endpoint = bindEndpoint(.inproc)
        let feeder = try await feeder(endpoint)
        let collector = try await collector(endpoint)
        for sequence in 0..<5 { try await feeder.send { try $0.sendJobs(Self.job(sequence)) } }
        #expect(try await eventually(collector) { $0.counters(.jobs).received == 5 })
        collector.terminate()
        try await collector.finished()
        var received: [Int] = []
        for try await job in collector.jobsMessages { received.append(Int(job.sequence)) }
        #expect(received == [0, 1, 2, 3, 4])
        // After the end, a new iteration ends at once.
        var again = collector.jobsMessages.makeAsyncIterator()
        #expect(try await again.next() == nil)
        feeder.terminate()
        try await feeder.finished()
    }

    @Test("at terminate the buffer stays bounded: what it cannot take is counted as dropped and logged, what it holds is still yielded")
    func terminateWithAFullBuffer() async throws {
        let logs = LogCapture()
        let endpoint = bindEndpoint(.inproc)
        let feeder = try await feeder(endpoint)
        let collector = try await collector(endpoint, buffer: 4, logs: logs)
        for sequence in 0..<50 { try await feeder.send { try $0.sendJobs(Self.job(sequence)) } }
        #expect(try await eventually(collector) { $0.isReceivePaused(.jobs) && $0.counters(.jobs).received == 4 })
        collector.terminate()
        try await collector.finished()
        #expect(logs.messages.contains { $0.hasPrefix("Collector: ") && $0.hasSuffix(" messages on jobs dropped at terminate: its stream buffer was full") },
                "\(logs.messages)")
        #expect(try await take(100, from: collector.jobsMessages).map(\.sequence) == [0, 1, 2, 3])
        feeder.terminate()
        try await feeder.finished()
    }

    @Test("a consumer cancelled while it waits ends its loop and takes no message")
    func cancellingAWaitingConsumer() async throws {
        let endpoint = bindEndpoint(.inproc)
        let feeder = try await feeder(endpoint)
        let collector = try await collector(endpoint)
        let jobs = collector.jobsMessages
        let waiting = Task {
            var count = 0
            for try await _ in jobs { count += 1 }
            return count
        }
        // Cancelled while it waits (not before): the consumer has registered.
        #expect(try await eventuallyAsync { jobs.waitingConsumers == 1 })
        waiting.cancel()
        #expect(try await waiting.value == 0)
        try await feeder.send { try $0.sendJobs(Self.job(7)) }
        var iterator = collector.jobsMessages.makeAsyncIterator()
        #expect(try await iterator.next() == Self.job(7))
        try await stop(collector, feeder)
    }

    @Test("iterating a channel that is not streamed throws an error that says so")
    func aChannelThatIsNotStreamed() async throws {
        let collector = try await collector(bindEndpoint(.inproc))
        var iterator = collector.messages(.control, as: Streams.Notice.self).makeAsyncIterator()
        await #expect(throws: ZDaemonError("Collector: channel control is not streamed")) { try await iterator.next() }
        var mistyped = collector.messages(.jobs, as: Streams.Notice.self).makeAsyncIterator()
        await #expect(throws: ZDaemonError("Collector: channel jobs does not stream Notice")) { try await mistyped.next() }
        collector.terminate()
        try await collector.finished()
    }
}

extension StreamTests {
    /// Set in the child process that ``aSlowConsumerKeepsMemoryFlat()`` starts.
    static let isolated = isolatedTestMode == "stream-memory"

    @Test("a slow consumer of 200,000 streamed messages: the daemon process grows by under 20 MiB from message 20,000 on, and every message arrives",
          .disabled(if: isolated))
    func aSlowConsumerKeepsMemoryFlat() throws {
        // In a process of its own, so that its resident memory is the daemon's and this test's alone.
        let run = try runIsolatedTest("slowConsumerInIsolation", mode: "stream-memory")
        #expect(run.status == 0 && run.oneTestPassed, "\(run.output)")
    }

    @Test("(in the child process) a slow consumer of 200,000 streamed messages", .enabled(if: isolated))
    func slowConsumerInIsolation() async throws {
        let total = 200_000
        let endpoint = bindEndpoint(.inproc)
        var settings = DaemonConfiguration()
        Streams.Sink.override(.jobs, with: ChannelOverride(endpoints: [endpoint]), in: &settings)
        let configuration = settings
        let sink = try await Streams.Sink.start(name: "sink") { try Streams.Sink(configuration: configuration) }
        await sink.started()
        // The producer blocks whenever libzmq's pipe is full: as fast as the stream lets it.
        let producer = Thread {
            do {
                let peer = try Socket(.push, linger: 5000)
                defer { peer.close(linger: 5000) }
                try peer.connect(endpoint)
                for sequence in 0..<total { try peer.send(Self.largeJob(sequence).encodeFrames()) }
            } catch {
                print("producer failed: \(error)")
            }
        }
        producer.start()
        var count = 0
        var inOrder = true
        var residentAt20k = 0
        for try await job in sink.jobsMessages {
            if job.sequence != UInt64(count) { inOrder = false }
            count += 1
            if count == 20_000 { residentAt20k = residentBytes() }
            if job.body != Self.largeJob(Int(job.sequence)).body { inOrder = false }
            if count % 200 == 0 { try await Task.sleep(for: .milliseconds(1)) }  // far slower than the producer
            if count == total { break }
        }
        let growth = residentBytes() - residentAt20k
        #expect(count == total)
        #expect(inOrder)
        #expect(growth < 20 << 20, "resident memory grew by \(growth >> 10) KiB between message 20,000 and \(total)")
        #expect(try await sink.withDaemon { $0.counters(.jobs) } == ChannelCounters(received: total))
        sink.terminate()
        try await sink.finished()
    }
}

/// Whether `condition` holds within 10 s of waiting (counted in capped steps, like `eventually`).
func eventuallyAsync(_ condition: @Sendable () -> Bool) async throws -> Bool {
    var waited = Duration.zero
    var last = ContinuousClock.now
    while waited < .seconds(10) {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(2))
        let now = ContinuousClock.now
        waited += min(now - last, .milliseconds(50))
        last = now
    }
    return condition()
}

/// The first `count` messages of `messages` (fewer if it ends first).
func take<M: Sendable>(_ count: Int, from messages: InboundMessages<M>) async throws -> [M] {
    var taken: [M] = []
    for try await message in messages {
        taken.append(message)
        if taken.count == count { break }
    }
    return taken
}

/// This process's resident memory, from `/proc/self/statm`.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

@Suite("withRunning: a daemon for the duration of a body")
struct WithRunningTests {
    @Test("the daemon runs while the body does, then terminates gracefully: what the body sent is flushed")
    func theDaemonEndsWithTheBody() async throws {
        let endpoint = bindEndpoint(.inproc)
        var sinkSettings = DaemonConfiguration()
        Streams.Sink.override(.jobs, with: ChannelOverride(endpoints: [endpoint]), in: &sinkSettings)
        var feederSettings = DaemonConfiguration()
        Streams.Feeder.override(.jobs, with: ChannelOverride(endpoints: [endpoint], bind: false), in: &feederSettings)  // to the sink
        Streams.Feeder.override(.notices, with: ChannelOverride(endpoints: [bindEndpoint(.inproc)]), in: &feederSettings)
        let (sinkConfiguration, feederConfiguration) = (sinkSettings, feederSettings)
        let received = try await Streams.Sink.withRunning(name: "sink", { try Streams.Sink(configuration: sinkConfiguration) }) { sink in
            let feeder = try await Streams.Feeder.withRunning(name: "feeder", { try Streams.Feeder(configuration: feederConfiguration) }) { feeder in
                for sequence in 0..<3 { try await feeder.send { try $0.sendJobs(StreamTests.job(sequence)) } }
                return feeder
            }
            #expect(feeder.handle.isFinished && feeder.handle.error == nil)
            return try await take(3, from: sink.jobsMessages).map(\.sequence)
        }
        #expect(received == [0, 1, 2])
    }

    @Test("a daemon whose channel cannot open throws that error, and the body does not run")
    func anOccupiedPortThrows() async throws {
        let holder = try Socket(.pull, linger: 0)
        defer { holder.close(linger: 0) }
        let endpoint = try holder.bind("tcp://127.0.0.1:*")
        var settings = DaemonConfiguration()
        Streams.Sink.override(.jobs, with: ChannelOverride(endpoints: [endpoint]), in: &settings)
        let configuration = settings
        let ran = Box(false)
        await #expect(throws: ZMQError.self) {
            try await Streams.Sink.withRunning(name: "sink", { try Streams.Sink(configuration: configuration) }) { _ in ran.update { $0 = true } }
        }
        #expect(!ran.get)
    }
}
