import Metrics
import Synchronization
import Testing
@testable import ZDaemon
import ZDaemonTesting

/// A minimal swift-metrics backend that keeps counter totals by label and dimensions.
final class CountingMetrics: MetricsFactory {
    final class CounterBox: CounterHandler {
        let total = Atomic<Int64>(0)
        func increment(by amount: Int64) { total.add(amount, ordering: .relaxed) }
        func reset() { total.store(0, ordering: .relaxed) }
    }
    final class Ignored: RecorderHandler, TimerHandler {
        func record(_ value: Int64) {}
        func record(_ value: Double) {}
        func recordNanoseconds(_ duration: Int64) {}
    }

    private let counters = Mutex<[String: CounterBox]>([:])

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: " ")
    }

    func value(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        counters.withLock { $0[Self.key(label, dimensions)]?.total.load(ordering: .relaxed) ?? 0 }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        counters.withLock { counters in
            let key = Self.key(label, dimensions)
            if let existing = counters[key] { return existing }
            let box = CounterBox()
            counters[key] = box
            return box
        }
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler { Ignored() }
    func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler { Ignored() }
    func destroyCounter(_ handler: CounterHandler) {}
    func destroyRecorder(_ handler: RecorderHandler) {}
    func destroyTimer(_ handler: TimerHandler) {}
}

@Suite("Metrics and context")
struct MetricsAndContextTests {
    @Test func countersReachSwiftMetrics() throws {
        let metrics = CountingMetrics()
        var configuration = DaemonConfiguration()
        configuration.metricsFactory = metrics
        let config = configuration
        let input = bindEndpoint(.inproc), output = bindEndpoint(.inproc)
        let sink = try Socket(.pull)
        try sink.bind(output)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Meter", ChannelSpec(name: "in", socket: .pull, endpoints: [input], bind: true),
                                               ChannelSpec(name: "out", socket: .push, endpoints: [output])),
                                    configuration: config)
            daemon.onReceive(0) { frames in
                if frames.count > 1 { throw FrameDecodingError(message: "M", frame: "f", index: 1, reason: "unexpected extra frame") }
                if frames[0].isEmpty { throw CancellationError() }
                try daemon.send(frames, on: 1)
            }
            return daemon
        }
        let push = try Socket(.push)
        try push.connect(input)
        for message: [Frame] in [[[1]], [[2]], [[1], [2]], [[]], [[3]]] { try push.send(message) }
        for _ in 0..<3 { #expect(try sink.receive(timeout: .seconds(10)) != nil) }
        stop(handle)
        let inDims = [("daemon", "Meter"), ("channel", "in")], outDims = [("daemon", "Meter"), ("channel", "out")]
        #expect(metrics.value("zdaemon_messages_received", inDims) == 5)
        #expect(metrics.value("zdaemon_messages_dropped", inDims) == 1)
        #expect(metrics.value("zdaemon_messages_handler_errors", inDims) == 1)
        #expect(metrics.value("zdaemon_messages_sent", outDims) == 3)
    }

    /// ETERM (the context shut down underneath) ends the loop cleanly: no error, sockets closed.
    @Test func contextShutdownEndsTheLoopCleanly() throws {
        let logs = LogCapture()
        let context = try ZMQContext()
        var configuration = DaemonConfiguration()
        configuration.context = context
        configuration.makeLogger = logs.configurationLogger
        let config = configuration
        let handle = try startDaemon {
            try Daemon(spec: .test("Eterm", ChannelSpec(name: "in", socket: .pull, endpoints: [bindEndpoint(.inproc)], bind: true)),
                       configuration: config)
        }
        context.shutdown()
        #expect(handle.waitUntilFinished(timeout: .seconds(10)))
        #expect(handle.error == nil)
        #expect(logs.contains("Eterm is terminating (context shut down)"))
    }
}
