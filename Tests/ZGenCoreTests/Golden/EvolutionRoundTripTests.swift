import Foundation
import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

/// The compatible change of Schemas/evolution_v1.json → evolution_v2.ini (two trailing frames with
/// defaults, a frame renamed with `renamedFrom`; both ignore extra frames), over tcp loopback
/// between daemons generated from either version, in both directions.
@Suite("Schema evolution over real sockets", .serialized)
struct EvolutionRoundTripTests {
    final class NewJobs: EvolutionV2.ConsumerHandlers, Sendable {
        let received = Mutex<[EvolutionV2.Job]>([])
        func onJobs(_ message: EvolutionV2.Job, daemon: EvolutionV2.Consumer) throws { received.withLock { $0.append(message) } }
    }

    final class OldJobs: EvolutionV1.ConsumerHandlers, Sendable {
        let received = Mutex<[EvolutionV1.Job]>([])
        func onJobs(_ message: EvolutionV1.Job, daemon: EvolutionV1.Consumer) throws { received.withLock { $0.append(message) } }
    }

    @Test("an old sender's jobs reach a new receiver with the defaults filled in")
    func oldSenderNewReceiver() throws {
        var producerSettings = DaemonConfiguration()
        EvolutionV1.Producer.override(.jobs, with: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"]), in: &producerSettings)
        let producerConfiguration = producerSettings
        let producer = try startDaemon { try EvolutionV1.Producer(configuration: producerConfiguration) }
        defer { producer.terminateAndWait() }
        let endpoint = try #require(producer.boundEndpoints(0).first)
        var consumerSettings = DaemonConfiguration()
        EvolutionV2.Consumer.override(.jobs, with: ChannelOverride(endpoints: [endpoint]), in: &consumerSettings)
        let consumerConfiguration = consumerSettings
        let jobs = NewJobs()
        let consumer = try startDaemon { try EvolutionV2.Consumer(handlers: jobs, configuration: consumerConfiguration) }
        defer { consumer.terminateAndWait() }
        for id in 1...3 {
            _ = producer.execute { (daemon: Daemon) in
                try? EvolutionV1.Producer(wrapping: daemon).sendJobs(EvolutionV1.Job(id: UInt64(id), text: "job \(id)"))
            }
        }
        #expect(eventually { jobs.received.withLock { $0.count } == 3 })
        #expect(jobs.received.withLock { $0 } == (1...3).map { EvolutionV2.Job(id: UInt64($0), body: "job \($0)", priority: 3, owner: "nobody") })
        #expect(onLoop(consumer) { $0.counters(0).dropped } == 0)
    }

    @Test("a new sender's jobs reach an old receiver, which ignores the frames it does not know")
    func newSenderOldReceiver() throws {
        var producerSettings = DaemonConfiguration()
        EvolutionV2.Producer.override(.jobs, with: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"]), in: &producerSettings)
        let producerConfiguration = producerSettings
        let producer = try startDaemon { try EvolutionV2.Producer(configuration: producerConfiguration) }
        defer { producer.terminateAndWait() }
        let endpoint = try #require(producer.boundEndpoints(0).first)
        var consumerSettings = DaemonConfiguration()
        EvolutionV1.Consumer.override(.jobs, with: ChannelOverride(endpoints: [endpoint]), in: &consumerSettings)
        let consumerConfiguration = consumerSettings
        let jobs = OldJobs()
        let consumer = try startDaemon { try EvolutionV1.Consumer(handlers: jobs, configuration: consumerConfiguration) }
        defer { consumer.terminateAndWait() }
        for id in 1...3 {
            _ = producer.execute { (daemon: Daemon) in
                try? EvolutionV2.Producer(wrapping: daemon).sendJobs(EvolutionV2.Job(id: UInt64(id), body: "job \(id)", priority: 9, owner: "ops"))
            }
        }
        #expect(eventually { jobs.received.withLock { $0.count } == 3 })
        #expect(jobs.received.withLock { $0 } == (1...3).map { EvolutionV1.Job(id: UInt64($0), text: "job \($0)") })
        #expect(onLoop(consumer) { $0.counters(0).dropped } == 0)
    }

    @Test("decoding by the rules: defaults only for frames left out, extra frames ignored, a missing required frame still malformed")
    func decodingRules() throws {
        let full = try EvolutionV2.Job(frames: [FrameEncoder.integer(UInt64(7)), FrameEncoder.string("x"), FrameEncoder.integer(UInt8(1)), FrameEncoder.string("me")])
        #expect(full == EvolutionV2.Job(id: 7, body: "x", priority: 1, owner: "me"))
        let partial = try EvolutionV2.Job(frames: [FrameEncoder.integer(UInt64(7)), FrameEncoder.string("x"), FrameEncoder.integer(UInt8(1))])
        #expect(partial == EvolutionV2.Job(id: 7, body: "x", priority: 1, owner: "nobody"))
        let longer = try EvolutionV1.Job(frames: [FrameEncoder.integer(UInt64(7)), FrameEncoder.string("x"), [1], [2], [3]])
        #expect(longer == EvolutionV1.Job(id: 7, text: "x"))
        #expect(throws: FrameDecodingError(message: "Job", frame: "body", index: 1, reason: "missing frame")) {
            _ = try EvolutionV2.Job(frames: [FrameEncoder.integer(UInt64(7))])
        }
    }
}
