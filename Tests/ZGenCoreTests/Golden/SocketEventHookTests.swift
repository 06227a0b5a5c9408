import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

// The generated `onSocketEvent(_:channel:daemon:)` hook (issue 7): optional (a default no-op),
// wired for every channel when the configuration monitors socket events, and costing nothing
// (no monitor socket) when it does not.

/// Socket events a generated daemon's handlers saw, with the channel they came from.
final class SeenEvents: Sendable {
    let events = Mutex<[(channel: String, event: SocketEvent)]>([])
    func contains(_ channel: String, _ matches: (SocketEvent) -> Bool) -> Bool {
        events.withLock { $0.contains { $0.channel == channel && matches($0.event) } }
    }
}

final class WatchingProducer: Pipeline.ProducerHandlers {
    let seen: SeenEvents
    init(_ seen: SeenEvents) { self.seen = seen }
    func onSocketEvent(_ event: SocketEvent, channel: String, daemon: Pipeline.Producer) throws {
        seen.events.withLock { $0.append((channel, event)) }
    }
}

final class WatchingConsumer: Pipeline.ConsumerHandlers {
    let seen: SeenEvents
    init(_ seen: SeenEvents) { self.seen = seen }
    func onInput(_ message: Pipeline.Item, daemon: Pipeline.Consumer) throws {}
    func onSocketEvent(_ event: SocketEvent, channel: String, daemon: Pipeline.Consumer) throws {
        seen.events.withLock { $0.append((channel, event)) }
    }
}

/// Handlers that do not implement the hook: the protocol extension's no-op is enough.
final class QuietProducer: Pipeline.ProducerHandlers {}

@Suite("Generated socket-event hook")
struct SocketEventHookTests {
    func configuration(monitor: Bool, _ channel: String, endpoint: String, bind: Bool) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.monitorSocketEvents = monitor
        configuration.channels[channel] = ChannelOverride(endpoints: [endpoint], bind: bind)
        return configuration
    }

    @Test("the hook gets listening, accepted, connected and disconnected events with the channel's name")
    func hookReceivesEvents() throws {
        let producerSeen = SeenEvents(), consumerSeen = SeenEvents()
        let producerConfiguration = configuration(monitor: true, "out", endpoint: "tcp://127.0.0.1:*", bind: true)
        let producer = try DaemonThread.start(name: "producer") {
            try Pipeline.Producer(handlers: WatchingProducer(producerSeen), configuration: producerConfiguration)
        }
        defer {
            producer.terminate()
            #expect(producer.waitUntilFinished(timeout: .seconds(10)))
        }
        #expect(producer.waitUntilStarted(timeout: .seconds(10)))
        let endpoint = try #require(producer.boundEndpoints(0).first)
        #expect(eventually(timeout: .seconds(15)) { producerSeen.contains("out") { $0 == .listening(endpoint: endpoint) } })

        let consumerConfiguration = configuration(monitor: true, "input", endpoint: endpoint, bind: false)
        let consumer = try DaemonThread.start(name: "consumer") {
            try Pipeline.Consumer(handlers: WatchingConsumer(consumerSeen), configuration: consumerConfiguration)
        }
        #expect(eventually(timeout: .seconds(15)) { consumerSeen.contains("input") { $0 == .connected(endpoint: endpoint) } })
        #expect(eventually(timeout: .seconds(15)) { producerSeen.contains("out") { if case .accepted = $0 { true } else { false } } })
        consumer.terminate()
        #expect(consumer.waitUntilFinished(timeout: .seconds(10)))
        #expect(eventually(timeout: .seconds(15)) { producerSeen.contains("out") { if case .disconnected = $0 { true } else { false } } })
    }

    @Test("without monitorSocketEvents no channel is monitored, and handlers need not implement the hook")
    func offByDefault() throws {
        var configuration = DaemonConfiguration()
        configuration.channels["out"] = ChannelOverride(endpoints: ["tcp://127.0.0.1:*"])
        let producer = try Pipeline.Producer(handlers: QuietProducer(), configuration: configuration)
        try producer.daemon.open()
        #expect(!producer.daemon.monitorsSocketEvents(0))
        var monitored = configuration
        monitored.monitorSocketEvents = true
        let watched = try Pipeline.Producer(handlers: QuietProducer(), configuration: monitored)
        try watched.daemon.open()
        #expect(watched.daemon.monitorsSocketEvents(0))
    }
}
