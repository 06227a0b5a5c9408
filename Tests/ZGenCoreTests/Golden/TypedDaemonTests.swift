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
    /// Kept, as a handler may: the daemon holds these handlers and they hold the daemon, until
    /// the daemon releases its handlers at shutdown.
    var daemon: Pipeline.Consumer?
    var ticks = 0
    var items: [UInt64] = []
    var events: [String] = []

    func start(_ daemon: Pipeline.Consumer) throws {
        events.append("start")
        self.daemon = daemon
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

    @Test("the will-terminate hook runs on the loop after the queued messages and before the flush: what it queues goes out")
    func willTerminateRunsBeforeTheFlush() throws {
        // A stage whose output peer reads nothing until the stage terminates: the stage's
        // output socket is full (hwm 1 on both sides), so what the hook sends waits in the
        // runtime's queue and goes out only if the flush comes after the hook.
        let input = bindEndpoint(.inproc), output = bindEndpoint(.inproc)
        let sink = try Socket(.pull, linger: 0)
        defer { sink.close(linger: 0) }
        try sink.setOption(.receiveHWM(1))
        _ = try sink.bind(output)
        let feeder = try Socket(.push, linger: 0)
        defer { feeder.close(linger: 0) }
        let order = Order()
        let queuedInHook = Atomic<Int>(-1)
        var settings = DaemonConfiguration()
        Pipeline.Stage.override(.input, with: ChannelOverride(endpoints: [input], bind: true), in: &settings)
        Pipeline.Stage.override(.output, with: ChannelOverride(endpoints: [output], bind: false, hwm: 1, queue: 100), in: &settings)
        settings.linger = .seconds(10)
        let stageSettings = settings
        let handle = try startDaemon {
            let stage = try Pipeline.Stage(handlers: RecordingStage(order), configuration: stageSettings)
            stage.onWillTerminate { stage in
                order.append("hook")
                try stage.sendOutput(Pipeline.Item(sequence: 99, body: [], labels: ["goodbye"]))
                queuedInHook.store(stage.queuedSends(.output), ordering: .relaxed)
            }
            return stage
        }
        try feeder.connect(input)
        for sequence in 1...5 { try feeder.send(Pipeline.Item(sequence: UInt64(sequence), body: [], labels: []).encodeFrames()) }
        #expect(eventually { order.all.count == 5 })  // all five handled and forwarded
        handle.terminate()
        // Read nothing until the hook has run: reading earlier would make room in the socket, and
        // the queue could drain before the hook's send (then the test would show nothing).
        #expect(eventually { order.all.last == "hook" })
        // Read everything while the stage flushes (its linger is 10 s).
        var received: [UInt64] = []
        while received.count < 6, try sink.poll(.readable, timeout: .seconds(10)).contains(.readable) {
            while let frames = try sink.receive(dontWait: true) { received.append(try Pipeline.Item(frames: frames).sequence) }
        }
        #expect(handle.waitUntilFinished(timeout: .seconds(15)))
        #expect(handle.error == nil)
        #expect(order.all == ["item 1", "item 2", "item 3", "item 4", "item 5", "hook"])
        #expect(queuedInHook.load(ordering: .relaxed) > 0, "the hook's send did not have to wait: the test shows nothing")
        #expect(received == [1, 2, 3, 4, 5, 99])
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
        #expect(producer.socket(.out) == nil)
        #expect(logs.contains("Producer: will-terminate handler failed: HookFailure()"))
    }

    @Test("a start hook that throws fails run() with its error after closing the channels; the will-terminate hook does not run")
    func throwingStartHookFailsTheRun() throws {
        let producer = try Pipeline.Producer(configuration: configuration(Pipeline.Producer.self, .out, bindEndpoint(.inproc), bind: true))
        var willTerminateRan = false
        producer.onStart { _ in throw HookFailure() }
        producer.onWillTerminate { _ in willTerminateRan = true }
        #expect(throws: HookFailure()) { try producer.run() }
        #expect(producer.socket(.out) == nil)
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

/// Forwards and records what it handles, for the hook-order test.
final class RecordingStage: Pipeline.StageHandlers {
    let order: Order
    init(_ order: Order) { self.order = order }
    func forward(_ message: Pipeline.Item, daemon: Pipeline.Stage) throws {
        try daemon.sendOutput(message)
        order.append("item \(message.sequence)")
    }
}

/// What happened, in order, shared between the loop and the test.
final class Order: Sendable {
    private let items = Mutex<[String]>([])
    func append(_ item: String) { items.withLock { $0.append(item) } }
    var all: [String] { items.withLock { $0 } }
}

final class ForwardingStage: Pipeline.StageHandlers {
    func forward(_ message: Pipeline.Item, daemon: Pipeline.Stage) throws { try daemon.sendOutput(message) }
}
