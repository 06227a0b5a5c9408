import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

// The socket-event hook of a generated daemon: registered with `onSocketEvent`, which observes the
// channels it names; without it (and without monitorSocketEvents) no channel costs a monitor socket.

/// Socket events a generated daemon's hook saw, with the channel they came from.
final class SeenEvents: Sendable {
    let events = Mutex<[(channel: String, event: SocketEvent)]>([])
    func record(_ event: SocketEvent, on channel: String) { events.withLock { $0.append((channel, event)) } }
    func contains(_ channel: String, _ matches: (SocketEvent) -> Bool) -> Bool {
        events.withLock { $0.contains { $0.channel == channel && matches($0.event) } }
    }
}

final class QuietConsumer: Pipeline.ConsumerHandlers {
    func onInput(_ message: Pipeline.Item, daemon: Pipeline.Consumer) throws {}
}

@Suite("Generated socket-event hook")
struct SocketEventHookTests {
    @Test("the hook gets listening, accepted, connected and disconnected events with its typed channel")
    func hookReceivesEvents() throws {
        let producerSeen = SeenEvents(), consumerSeen = SeenEvents()
        var producerConfiguration = DaemonConfiguration()
        Pipeline.Producer.override(.out, with: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"], bind: true), in: &producerConfiguration)
        let settings = producerConfiguration
        let producer = try DaemonThread.start(name: "producer") {
            let producer = try Pipeline.Producer(configuration: settings)
            producer.onSocketEvent { event, channel, daemon in
                producerSeen.record(event, on: daemon.channelSpec(channel).name)
            }
            return producer
        }
        defer {
            producer.terminate()
            #expect(producer.waitUntilFinished(timeout: .seconds(10)))
        }
        #expect(producer.waitUntilStarted(timeout: .seconds(10)))
        let endpoint = try #require(producer.boundEndpoints(Pipeline.Producer.Channel.out).first)
        #expect(eventually(timeout: .seconds(15)) { producerSeen.contains("out") { $0 == .listening(endpoint: endpoint) } })

        var consumerConfiguration = DaemonConfiguration()
        Pipeline.Consumer.override(.input, with: ChannelOverride(endpoints: [endpoint], bind: false), in: &consumerConfiguration)
        let consumerSettings = consumerConfiguration
        let consumer = try DaemonThread.start(name: "consumer") {
            let consumer = try Pipeline.Consumer(handlers: QuietConsumer(), configuration: consumerSettings)
            consumer.onSocketEvent([.input]) { event, channel, _ in
                #expect(channel == .input)
                consumerSeen.record(event, on: "input")
            }
            return consumer
        }
        #expect(eventually(timeout: .seconds(15)) { consumerSeen.contains("input") { $0 == .connected(endpoint: endpoint) } })
        #expect(eventually(timeout: .seconds(15)) { producerSeen.contains("out") { if case .accepted = $0 { true } else { false } } })
        consumer.terminate()
        #expect(consumer.waitUntilFinished(timeout: .seconds(10)))
        #expect(eventually(timeout: .seconds(15)) { producerSeen.contains("out") { if case .disconnected = $0 { true } else { false } } })
    }

    @Test("without a hook or monitorSocketEvents no channel is monitored; a hook observes only the channels it names")
    func offByDefault() throws {
        var configuration = DaemonConfiguration()
        Pipeline.Producer.override(.out, with: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"]), in: &configuration)
        let producer = try Pipeline.Producer(configuration: configuration)
        try producer.daemon.open()
        #expect(!producer.daemon.monitorsSocketEvents(Pipeline.Producer.Channel.out))
        var monitored = configuration
        monitored.monitorSocketEvents = true
        let watched = try Pipeline.Producer(configuration: monitored)
        try watched.daemon.open()
        #expect(watched.daemon.monitorsSocketEvents(Pipeline.Producer.Channel.out))
        let hooked = try Pipeline.Producer(configuration: configuration)
        hooked.onSocketEvent { _, _, _ in }
        try hooked.daemon.open()
        #expect(hooked.daemon.monitorsSocketEvents(Pipeline.Producer.Channel.out))
    }
}
