import Metrics
import Synchronization
import Testing
@testable import ZDaemon
import ZDaemonTesting

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
