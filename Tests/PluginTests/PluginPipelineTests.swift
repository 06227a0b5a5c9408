import Synchronization
import Testing
import ZDaemon

// `PluginPipeline` comes from plugin_pipeline.zgen.ini: the INI form through the same plugin,
// a second schema in the same module (each in its own namespace).

/// Sends the batches it is given as soon as its loop runs.
/// (The producer receives nothing, so it has no handlers: this is its start hook.)
final class ProduceBatches {
    let batches: [PluginPipeline.Batch]

    init(_ batches: [PluginPipeline.Batch]) { self.batches = batches }

    func start(_ daemon: PluginPipeline.Producer) throws {
        for batch in batches { try daemon.sendOut(batch) }
    }
}

/// Collects batches until it has `expected` of them, then stops.
final class CollectBatches: PluginPipeline.ConsumerHandlers {
    let received: Received
    let expected: Int

    init(into received: Received, expected: Int) {
        self.received = received
        self.expected = expected
    }

    func onBatch(_ message: PluginPipeline.Batch, daemon: PluginPipeline.Consumer) throws {
        if received.append(message) >= expected { daemon.terminate() }
    }
}

/// Batches seen by the consumer's loop thread, read by the test.
final class Received: Sendable {
    private let storage = Mutex<[PluginPipeline.Batch]>([])

    /// Appends and returns the new count.
    func append(_ batch: PluginPipeline.Batch) -> Int { storage.withLock { $0.append(batch); return $0.count } }

    var all: [PluginPipeline.Batch] { storage.withLock { $0 } }
}

@Suite("INI schema through ZGenBuildPlugin")
struct PluginPipelineTests {
    @Test("a PUSH/PULL pipeline from the INI schema delivers typed batches with repeated frames, in order", .timeLimit(.minutes(1)))
    func pipelineOverInproc() throws {
        let batches = [
            PluginPipeline.Batch(name: "empty", readings: []),
            PluginPipeline.Batch(name: "one", readings: [1.5]),
            PluginPipeline.Batch(name: "many", readings: [-0.0, .pi, 1e300, -42]),
        ]
        let received = Received()
        let consumer = try DaemonThread.start(name: "consumer") {
            try PluginPipeline.Consumer(handlers: CollectBatches(into: received, expected: batches.count))
        }
        defer {
            consumer.terminate()
            consumer.waitUntilFinished(timeout: .seconds(10))
        }
        let producer = try DaemonThread.start(name: "producer") {
            let producer = try PluginPipeline.Producer()
            producer.onStart(ProduceBatches(batches).start)
            return producer
        }
        defer {
            producer.terminate()
            producer.waitUntilFinished(timeout: .seconds(10))
        }
        #expect(consumer.waitUntilFinished(timeout: .seconds(20)), "the consumer did not get every batch in time")
        #expect(received.all == batches)
        #expect(PluginPipeline.Consumer.spec.channels.first?.socket == .pull)
    }
}
