import Testing
@testable import ZDaemon
import ZDaemonTesting

@Suite("Send queue and threads")
struct FlowAndThreadTests {
    /// A socket at its high-water mark does not block the loop: the message waits in the
    /// channel's bounded queue, beyond which the send throws; the queue drains once writable.
    @Test func sendsQueueWhenTheSocketCannotTakeThemAndThrowWhenFull() throws {
        let endpoint = bindEndpoint(.inproc)
        let daemon = try Daemon(spec: .test("Producer", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint], bind: true,
                                                                  hwm: 1, queue: 3)))
        try daemon.open()
        // No peer yet: PUSH cannot send, so everything waits in the runtime's queue.
        for index in 0..<3 { try daemon.send([[UInt8(index)]], on: 0) }
        #expect(daemon.queuedSends(0) == 3)
        #expect(throws: ChannelFullError(channel: "out", queued: 3)) { try daemon.send([[9]], on: 0) }
        let pull = try Socket(.pull)
        try pull.connect(endpoint)
        var received: [[Frame]] = []
        #expect(try eventually {
            try daemon.loop.runOnce(wait: false)
            while let frames = try pull.receive(dontWait: true) { received.append(frames) }
            return received.count == 3
        })
        #expect(received == [[[0]], [[1]], [[2]]])
        #expect(daemon.queuedSends(0) == 0)
        #expect(daemon.counters(0).sent == 3)
    }

    /// `drainedBy`: while the output's queue holds 80 % of its bound the input is not read
    /// (logged), and reading resumes under 50 %; nothing is lost and the queue stays bounded.
    @Test func inputPausesWhileItsDrainingOutputIsBackedUp() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let config = configuration
        let input = bindEndpoint(.inproc), output = bindEndpoint(.inproc)
        let maxQueued = Box(0)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Stage",
                                               ChannelSpec(name: "in", socket: .pull, endpoints: [input], bind: true, drainedBy: "out"),
                                               ChannelSpec(name: "out", socket: .push, endpoints: [output], bind: true, hwm: 1, queue: 10)),
                                    configuration: config)
            daemon.onReceive(0) { frames in
                try daemon.send(frames, on: 1)
                let queued = daemon.queuedSends(1)
                maxQueued.update { $0 = max($0, queued) }
            }
            return daemon
        }
        defer { stop(handle) }
        let feeder = try Socket(.push)
        try feeder.connect(input)
        for index in 0..<100 { try feeder.send([FrameEncoder.integer(UInt32(index))]) }
        // No consumer yet: the output queue fills to 80 % and reading stops there.
        #expect(eventually { logs.contains("Pausing receive on: in (Buffered: 8, HWM: 10)") })
        #expect(onLoop(handle) { $0.counters(0).received } == 8)
        let sink = try Socket(.pull)
        try sink.connect(output)
        var got: [UInt32] = []
        #expect(try eventually {
            while let frames = try sink.receive(dontWait: true) {
                var reader = FrameReader(frames, message: "N")
                got.append(try reader.integer("n", as: UInt32.self))
            }
            return got.count == 100
        })
        #expect(got == Array(0..<100))
        #expect(logs.contains("Resuming receive on: in"))
        #expect(maxQueued.get <= 10)
    }

    @Test func flowControlNamesMustResolve() {
        #expect(throws: ZDaemonError("Bad channel in: drainedBy names unknown channel 'nope'")) {
            try Daemon(spec: .test("Bad", ChannelSpec(name: "in", socket: .pull, endpoints: [], drainedBy: "nope")))
        }
    }

    /// XPUB with no-drop: at the high-water mark messages are refused by libzmq, queued by the
    /// runtime, then refused with ChannelFullError; none is silently lost.
    @Test func xpubNoDropQueuesThenRefuses() throws {
        let endpoint = bindEndpoint(.inproc)
        let subscriptions = Box(0)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Publisher", ChannelSpec(name: "news", socket: .xpub, endpoints: [endpoint], bind: true,
                                                                       hwm: 1, queue: 2, options: ChannelOptions(xpubNoDrop: true))))
            daemon.onReceive(0) { frames in if frames[0].first == 1 { subscriptions.update { $0 += 1 } } }
            return daemon
        }
        defer { stop(handle) }
        let sub = try Socket(.sub)
        try sub.setOption(.receiveHWM(1))
        try sub.setOption(.subscribe([]))
        try sub.connect(endpoint)
        #expect(eventually { subscriptions.get == 1 })
        let outcome = try #require(onLoop(handle) { daemon -> [Int] in
            var accepted = 0
            for index in 0..<100 {
                do {
                    try daemon.send([[UInt8(index)]], on: 0)
                    accepted += 1
                } catch is ChannelFullError {
                    break
                } catch {
                    return [-1]
                }
            }
            return [accepted, daemon.queuedSends(0)]
        })
        #expect(outcome.count == 2 && outcome[0] < 100 && outcome[1] == 2)
        var received: [UInt8] = []
        #expect(try eventually {
            while let frames = try sub.receive(dontWait: true) { received.append(frames[0][0]) }
            return received.count == outcome[0]
        })
        #expect(received == (0..<UInt8(outcome[0])).map { $0 })
    }

    /// A generated-style wrapper (owns its Daemon and handlers) runs on its own thread; the
    /// wrapper stays alive while it runs, and only the Sendable handle leaves the thread.
    @Test func wrapperTypesRunThroughDaemonHosting() throws {
        final class Handlers {
            let seen: Box<Int>
            init(seen: Box<Int>) { self.seen = seen }
            func onJob(_ frames: [Frame], daemon: Wrapper) { seen.update { $0 += frames.count } }
        }
        final class Wrapper: DaemonHosting {
            let daemon: Daemon
            private let handlers: Handlers
            init(handlers: Handlers, endpoint: String) throws {
                self.handlers = handlers
                daemon = try Daemon(spec: .test("Wrapped", ChannelSpec(name: "job", socket: .pull, endpoints: [endpoint], bind: true)))
                daemon.onReceive(0) { [unowned self] frames in self.handlers.onJob(frames, daemon: self) }
            }
            func run() throws { try daemon.run() }
        }
        let seen = Box(0)
        let endpoint = bindEndpoint(.inproc)
        let handle = try DaemonThread.start(name: "wrapped") { try Wrapper(handlers: Handlers(seen: seen), endpoint: endpoint) }
        #expect(handle.waitUntilStarted(timeout: .seconds(10)))
        let push = try Socket(.push)
        try push.connect(endpoint)
        try push.send(textFrames("a", "b", "c"))
        #expect(eventually { seen.get == 3 })
        stop(handle)
    }

    @Test func daemonThreadRethrowsCreationErrors() {
        #expect(throws: ZDaemonError("configuration names unknown channel 'x' of Bad")) {
            _ = try DaemonThread.start(name: "bad") {
                var configuration = DaemonConfiguration()
                configuration.channels["x"] = ChannelOverride()
                return try Daemon(spec: .test("Bad"), configuration: configuration)
            }
        }
    }

    @Test func runErrorIsReportedThroughTheHandle() throws {
        let holder = try Socket(.pull)
        let endpoint = try holder.bind("tcp://127.0.0.1:*")
        let handle = try DaemonThread.start(name: "clash") {
            try Daemon(spec: .test("Clash", ChannelSpec(name: "in", socket: .pull, endpoints: [endpoint], bind: true)))
        }
        #expect(handle.waitUntilFinished(timeout: .seconds(10)))
        #expect(!handle.isStarted)
        #expect(handle.error.map { "\($0)" } == "bind \(endpoint): Address already in use")
    }

    /// The seed's shape: a server counts on a repeating timer, sends jobs and broadcasts,
    /// then broadcasts EXIT on the next iteration and terminates; workers stop on EXIT.
    @Test func seedShapedServerAndWorkers() throws {
        let jobs = bindEndpoint(.inproc), broadcasts = bindEndpoint(.inproc)
        // Workers first (inproc connect before bind is fine), so no broadcast is missed.
        let received = Box<[String]>([])
        let worker = try startDaemon("worker") {
            let daemon = try Daemon(spec: DaemonSpec(name: "MyWorker", title: "(my:worker)", app: "my_zmq", channels: [
                ChannelSpec(name: "job", socket: .pull, endpoints: [jobs]),
                ChannelSpec(name: "broadcast", socket: .sub, endpoints: [broadcasts], subscribe: [""]),
            ]))
            daemon.onReceive(0) { frames in received.update { $0.append("job " + text(frames[0])) } }
            daemon.onReceive(1) { frames in
                received.update { $0.append("broadcast " + text(frames[0])) }
                if frames.first == Array("EXIT".utf8) { daemon.terminate() }
            }
            return daemon
        }
        let server = try startDaemon("server") {
            let daemon = try Daemon(spec: DaemonSpec(name: "MyServer", title: "(my:server)", app: "my_zmq", channels: [
                ChannelSpec(name: "job", socket: .push, endpoints: [jobs], bind: true),
                ChannelSpec(name: "broadcast", socket: .pub, endpoints: [broadcasts], bind: true),
            ]))
            var n = 0
            daemon.onStart {
                daemon.loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(20), name: "count") {
                    n += 1
                    try daemon.send(textFrames("This is message #\(n)"), on: n % 2 == 1 ? 0 : 1)
                    if n == 5 {
                        daemon.loop.execute {
                            try? daemon.send(textFrames("EXIT"), on: 1)
                            daemon.terminate()
                        }
                    }
                }
            }
            return daemon
        }
        #expect(server.waitUntilFinished(timeout: .seconds(10)))
        #expect(worker.waitUntilFinished(timeout: .seconds(10)))
        #expect(received.get.filter { $0.hasPrefix("job") } == ["job This is message #1", "job This is message #3", "job This is message #5"])
        #expect(received.get.last == "broadcast EXIT")
    }
}
