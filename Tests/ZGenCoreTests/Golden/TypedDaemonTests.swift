import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

// The generated surface v2 on the golden Pipeline daemons: hooks registered on the daemon, handlers
// and timers that get the daemon as a parameter (no capture lists), and everything freed at the end.

/// Consumes items and keeps a repeated timer of its own (so it and the loop refer to each other
/// until the loop closes): the shape that needed `[unowned self]` before.
final class TickingConsumer: Pipeline.ConsumerHandlers {
    var timer: RepeatedTask?
    var ticks = 0
    var items: [UInt64] = []
    var events: [String] = []

    func start(_ daemon: Pipeline.Consumer) throws {
        events.append("start")
        timer = daemon.scheduleRepeatedTask(initialDelay: .milliseconds(1), delay: .milliseconds(1)) { daemon in
            self.ticks += 1
            if self.ticks == 3 { daemon.terminate() }
        }
    }

    func onInput(_ message: Pipeline.Item, daemon: Pipeline.Consumer) throws {
        items.append(message.sequence)
        events.append("item \(message.sequence)")
    }

    func willTerminate(_ daemon: Pipeline.Consumer) throws {
        events.append("willTerminate")
    }
}

struct HookFailure: Error, Equatable {}

@Suite("Typed daemons: hooks, timers, lifetime")
struct TypedDaemonTests {
    func configuration<D: TypedDaemon>(_ type: D.Type, _ channel: D.Channel, _ endpoint: String, bind: Bool) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        D.override(channel, with: ChannelOverride(endpoints: [endpoint], bind: bind), in: &configuration)
        return configuration
    }

    @Test("a terminated daemon, its handlers and the timer they keep are freed: weak references become nil")
    func terminatedDaemonIsFreed() throws {
        weak var handlers: TickingConsumer?
        weak var daemon: Daemon?
        weak var loop: EventLoop?
        try {
            let logic = TickingConsumer()
            let consumer = try Pipeline.Consumer(
                handlers: logic, configuration: configuration(Pipeline.Consumer.self, .input, bindEndpoint(.inproc), bind: true))
            consumer.onStart(logic.start)
            consumer.onWillTerminate(logic.willTerminate)
            handlers = logic
            daemon = consumer.daemon
            loop = consumer.loop
            try consumer.run()  // on this thread; the timer terminates it after three ticks
            #expect(logic.ticks == 3)
            #expect(logic.events == ["start", "willTerminate"])
        }()
        #expect(handlers == nil)
        #expect(daemon == nil)
        #expect(loop == nil)
    }

    @Test("the will-terminate hook runs on the loop after the queued messages and before the flush: what it sends goes out")
    func willTerminateRunsBeforeTheFlush() throws {
        let endpoint = bindEndpoint(.inproc)
        let sink = try Socket(.pull, linger: 0)
        defer { sink.close(linger: 0) }
        _ = try sink.bind(endpoint)
        let order = Mutex<[String]>([])
        let handle = try startDaemon {
            let producer = try Pipeline.Producer(configuration: configuration(Pipeline.Producer.self, .out, endpoint, bind: false))
            producer.onWillTerminate { producer in
                order.withLock { $0.append(producer.isTerminating ? "hook (terminating)" : "hook") }
                try producer.sendOut(Pipeline.Item(sequence: 99, body: [1], labels: ["goodbye"]))
            }
            return producer
        }
        #expect(handle.terminateAndWait())
        #expect(handle.error == nil)
        #expect(order.withLock { $0 } == ["hook (terminating)"])
        #expect(try sink.poll(.readable, timeout: .seconds(10)).contains(.readable))
        let frames = try #require(try sink.receive(dontWait: true))
        #expect(try Pipeline.Item(frames: frames) == Pipeline.Item(sequence: 99, body: [1], labels: ["goodbye"]))
    }

    @Test("a will-terminate hook that throws is logged, the shutdown completes, and run() fails with its error")
    func throwingWillTerminateFailsTheRun() throws {
        let logs = LogCapture()
        var settings = configuration(Pipeline.Producer.self, .out, bindEndpoint(.inproc), bind: true)
        settings.makeLogger = logs.configurationLogger
        let producer = try Pipeline.Producer(configuration: settings)
        producer.onStart { $0.terminate() }
        producer.onWillTerminate { _ in throw HookFailure() }
        #expect(throws: HookFailure()) { try producer.run() }
        #expect(producer.daemon.socket(Pipeline.Producer.Channel.out) == nil)
        #expect(logs.contains("Producer: will-terminate handler failed: HookFailure()"))
    }

    @Test("a start hook that throws fails run() with its error after closing the channels; the will-terminate hook does not run")
    func throwingStartHookFailsTheRun() throws {
        let producer = try Pipeline.Producer(configuration: configuration(Pipeline.Producer.self, .out, bindEndpoint(.inproc), bind: true))
        var willTerminateRan = false
        producer.onStart { _ in throw HookFailure() }
        producer.onWillTerminate { _ in willTerminateRan = true }
        #expect(throws: HookFailure()) { try producer.run() }
        #expect(producer.daemon.socket(Pipeline.Producer.Channel.out) == nil)
        #expect(!willTerminateRan)
        #expect(producer.handle.error as? HookFailure == HookFailure())
    }

    @Test("overrides in code name typed channels; counters and bound endpoints are read by channel")
    func typedOverridesAndIntrospection() throws {
        let endpoint = bindEndpoint(.inproc)
        let stage = try Pipeline.Stage(handlers: ForwardingStage(), configuration: {
            var configuration = DaemonConfiguration()
            Pipeline.Stage.override(.input, with: ChannelOverride(endpoints: [endpoint], bind: true), in: &configuration)
            Pipeline.Stage.override(.output, with: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"], hwm: 7), in: &configuration)
            return configuration
        }())
        try stage.daemon.open()
        #expect(stage.boundEndpoints(.input) == [endpoint])
        #expect(stage.channelSpec(.output).hwm == 7)
        #expect(try #require(stage.boundEndpoints(.output).first).hasPrefix("tcp://127.0.0.1:"))
        #expect(stage.counters(.input) == ChannelCounters())
        #expect(stage.queuedSends(.output) == 0)
        #expect(Pipeline.Stage.Channel.allCases.map { Pipeline.Stage.spec.channels[$0.rawValue].name } == ["input", "output"])
    }
}

final class ForwardingStage: Pipeline.StageHandlers {
    func forward(_ message: Pipeline.Item, daemon: Pipeline.Stage) throws { try daemon.sendOutput(message) }
}
