import Foundation
import Testing
@testable import ZDaemon
import ZDaemonTesting

#if canImport(Glibc)
import Glibc
#endif

@Suite("Daemon")
struct DaemonTests {
    struct Boom: Error {}

    @Test func lifecycleLinesAndLoggerIdentity() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let config = configuration
        let handle = try startDaemon {
            try Daemon(spec: .test("MyWorker", ChannelSpec(name: "job", socket: .pull, endpoints: [bindEndpoint(.inproc)], bind: true)),
                       configuration: config)
        }
        #expect(logs.contains("MyWorker has begun processing messages"))
        stop(handle)
        #expect(logs.messages.filter { $0 == "MyWorker is terminating" }.count == 1)
        let line = try #require(logs.all.first { $0.message == "MyWorker has begun processing messages" })
        // The daemon is named once: in the message, not again in the label or metadata.
        #expect(line.label == "tests")
        #expect(line.metadata["title"] == "(test:myworker)")
        #expect(line.metadata["daemon"] == nil)
        #expect(handle.error == nil)
    }

    /// A start handler that throws fails the run with its error: later start handlers do not
    /// run, nothing queued is handled, and the channels are closed before run() returns.
    @Test func throwingStartHandlerFailsTheRunAfterClosingTheChannels() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let endpoint = bindEndpoint(.inproc)
        let daemon = try Daemon(spec: .test("HalfStarted", ChannelSpec(name: "in", socket: .pull, endpoints: [endpoint], bind: true)),
                                configuration: configuration)
        var handled = 0
        var laterStartRan = false
        daemon.onReceive(0) { _ in handled += 1 }
        try daemon.open()
        guard let context = daemon.context else {
            Issue.record("an open daemon has a context")
            return
        }
        let feeder = try Socket(.push, context: context, linger: 0)
        defer { feeder.close(linger: 0) }
        try feeder.connect(endpoint)
        try feeder.send([[1]])
        daemon.onStart { throw Boom() }
        daemon.onStart { laterStartRan = true }
        #expect(throws: Boom.self) { try daemon.run() }
        #expect(daemon.handle.isFinished)
        #expect(daemon.handle.error is Boom)
        #expect(daemon.socket(0) == nil)
        #expect(daemon.context == nil)
        #expect(!laterStartRan)
        #expect(handled == 0)
        #expect(logs.contains("HalfStarted stopped: Boom()"))
    }

    @Test func throwingHandlerIsLoggedCountedAndTheNextMessageIsHandled() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let config = configuration
        let handled = Box<[String]>([])
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Worker", ChannelSpec(name: "input", socket: .pull, endpoints: ["tcp://127.0.0.1:*"], bind: true)),
                                    configuration: config)
            daemon.onReceive(0) { frames in
                var reader = FrameReader(frames, message: "Text")
                let value = try reader.string("text")
                try reader.finish()
                if value == "bad" { throw Boom() }
                handled.update { $0.append(value) }
            }
            return daemon
        }
        defer { stop(handle) }
        let push = try Socket(.push)
        try push.connect(try #require(handle.boundEndpoints(0).first))
        for message in [textFrames("one"), textFrames("bad"), [[0xFF]], textFrames("a", "b"), textFrames("two")] {
            try push.send(message)
        }
        #expect(eventually { handled.get == ["one", "two"] })
        #expect(eventually { onLoop(handle) { $0.counters(0) } == ChannelCounters(received: 5, sent: 0, dropped: 2, handlerErrors: 1) })
        #expect(logs.contains("Worker: handler for input failed: Boom()"))
        #expect(logs.contains("dropped malformed message on input: malformed Text: frame 0 (text): invalid UTF-8"))
        #expect(logs.contains("malformed Text: frame 1 (): unexpected extra frame"))
    }

    /// The receive buffer is reused between messages; frames a handler keeps must not change.
    @Test func framesKeptByAHandlerStayIntact() throws {
        let kept = Box<[[Frame]]>([])
        let firsts = Box<[Frame]>([])
        let endpoint = bindEndpoint(.inproc)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Keeper", ChannelSpec(name: "in", socket: .pull, endpoints: [endpoint], bind: true)))
            var local: [[Frame]] = []
            var localFirsts: [Frame] = []
            daemon.onReceive(0) { frames in
                // Keeping only one frame: the outer array stays unique, the frame is shared.
                localFirsts.append(frames[0])
                if localFirsts.count > 150 { local.append(frames) }
                if localFirsts.count == 300 {
                    kept.update { $0 = local }
                    firsts.update { $0 = localFirsts }
                }
            }
            return daemon
        }
        defer { stop(handle) }
        let push = try Socket(.push)
        try push.connect(endpoint)
        var sent: [[Frame]] = []
        for index in 0..<300 {
            // Same sizes, different sizes, empty and large frames, varying frame counts.
            let size = [8, 8, 3, 0, 70_000, 8][index % 6]
            let message = (0...(index % 3)).map { part in (0..<size).map { UInt8(truncatingIfNeeded: $0 &+ index &* 7 &+ part) } }
            sent.append(message)
            try push.send(message)
        }
        #expect(eventually { firsts.get.count == 300 })
        #expect(firsts.get == sent.map { $0[0] })
        #expect(kept.get == Array(sent[150...]))
    }

    /// terminate() from another thread: the loop ends, the messages already in the receive
    /// queue are handled, and what they caused to be sent reaches the live peer.
    @Test func terminateFromAnotherThreadDrainsAndFlushes() throws {
        let input = bindEndpoint(.inproc)
        let sink = try Socket(.pull)
        let output = try sink.bind("tcp://127.0.0.1:*")
        let feeder = try Socket(.push)
        try feeder.bind(input)
        let gate = Box(false)
        let handled = Box(0)
        var configuration = DaemonConfiguration()
        configuration.receiveBatch = 1  // so the terminate request is seen between messages
        let config = configuration
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Relay",
                                               ChannelSpec(name: "in", socket: .pull, endpoints: [input]),
                                               ChannelSpec(name: "out", socket: .push, endpoints: [output], hwm: 5)),
                                    configuration: config)
            daemon.onReceive(0) { frames in
                if frames == textFrames("first") {
                    _ = eventually { gate.get }  // hold the loop while the test queues and terminates
                }
                handled.update { $0 += 1 }
                try daemon.send(frames, on: 1)
            }
            return daemon
        }
        try feeder.send(textFrames("first"))
        #expect(eventually { handled.get == 0 && (try? feeder.events().contains(.writable)) == true })
        // inproc: once send returns, the message is in the daemon's receive queue.
        for index in 0..<200 { try feeder.send(textFrames("m\(index)")) }
        handle.terminate()
        gate.update { $0 = true }
        #expect(handle.waitUntilFinished(timeout: .seconds(10)))
        #expect(handled.get == 201)
        var received = 0
        while let frames = try sink.receive(timeout: .seconds(5)) {
            #expect(frames == (received == 0 ? textFrames("first") : textFrames("m\(received - 1)")))
            received += 1
            if received == 201 { break }
        }
        #expect(received == 201)
        #expect(handle.execute {} == false)
    }

    @Test func bindingAnOccupiedPortFailsWithTheClearError() throws {
        let holder = try Socket(.pull)
        let endpoint = try holder.bind("tcp://127.0.0.1:*")
        let daemon = try Daemon(spec: .test("Server", ChannelSpec(name: "job", socket: .push, endpoints: [endpoint], bind: true)))
        let port = endpoint.split(separator: ":").last!
        #expect(throws: ZMQError.self) { try daemon.run() }
        do {
            try Daemon(spec: .test("Server", ChannelSpec(name: "job", socket: .push, endpoints: [endpoint], bind: true))).run()
        } catch {
            #expect("\(error)" == "bind tcp://127.0.0.1:\(port): Address already in use")
        }
    }

    @Test func optionThatDoesNotApplyFailsAtOpen() throws {
        let daemon = try Daemon(spec: .test("Bad", ChannelSpec(name: "job", socket: .push, endpoints: [bindEndpoint(.inproc)], bind: true,
                                                             subscribe: ["x"])))
        #expect(throws: ZDaemonError("channel job: SUBSCRIBE does not apply to a PUSH socket")) { try daemon.open() }
        let other = try Daemon(spec: .test("Bad", ChannelSpec(name: "job", socket: .pull, endpoints: [bindEndpoint(.inproc)], bind: true,
                                                            options: ChannelOptions(routerMandatory: true))))
        #expect(throws: ZDaemonError("channel job: ROUTER_MANDATORY does not apply to a PULL socket")) { try other.open() }
        var configuration = DaemonConfiguration()
        configuration.channels["nope"] = ChannelOverride(bind: true)
        #expect(throws: ZDaemonError("configuration names unknown channel 'nope' of Bad")) {
            try Daemon(spec: .test("Bad", ChannelSpec(name: "job", socket: .pull, endpoints: [])), configuration: configuration)
        }
    }

    @Test func overridesReplaceEndpointsAndOptions() throws {
        var configuration = DaemonConfiguration()
        let endpoint = bindEndpoint(.inproc)
        configuration.channels["job"] = ChannelOverride(endpoints: [endpoint], bind: true, hwm: 7,
                                                        options: ChannelOptions(immediate: true))
        let daemon = try Daemon(spec: .test("Srv", ChannelSpec(name: "job", socket: .push, endpoints: ["tcp://*:9090"],
                                                             options: ChannelOptions(reconnectIvl: 10))),
                                configuration: configuration)
        let effective = daemon.channelSpec(0)
        #expect(effective.endpoints == [endpoint] && effective.bind && effective.hwm == 7)
        #expect(effective.options == ChannelOptions(reconnectIvl: 10, immediate: true))
        try daemon.open()
        #expect(daemon.boundEndpoints(0) == [endpoint])
    }

    /// The loop sleeps in zmq_poll when idle: its thread's CPU time over 1 s stays < 50 ms.
    @Test func idleLoopDoesNotBusyPoll() throws {
        let handle = try startDaemon {
            try Daemon(spec: .test("Idle", ChannelSpec(name: "in", socket: .pull, endpoints: ["tcp://127.0.0.1:*"], bind: true),
                                  ChannelSpec(name: "sub", socket: .sub, endpoints: [bindEndpoint(.inproc)], bind: true, subscribe: [""])))
        }
        defer { stop(handle) }
        @Sendable func threadCPU() -> Int {
            var usage = rusage()
            getrusage(.init(1), &usage)  // RUSAGE_THREAD (GNU; not exported to Swift by name)
            return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
        }
        let before = try #require(onLoop(handle) { _ in threadCPU() })
        Thread.sleep(forTimeInterval: 1)  // the measured idle interval, not synchronisation
        let after = try #require(onLoop(handle) { _ in threadCPU() })
        #expect(after - before < 50_000, "loop thread used \(after - before) µs while idle")
    }

    @Test func watchdogNamesTheBlockingChannel() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        configuration.blockingThreshold = .milliseconds(100)
        let config = configuration
        let endpoint = bindEndpoint(.inproc)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Slow", ChannelSpec(name: "slowpoke", socket: .pull, endpoints: [endpoint], bind: true)),
                                    configuration: config)
            daemon.onReceive(0) { _ in
                // A deliberately blocking handler; it returns as soon as the warning is out.
                _ = eventually(timeout: .seconds(5)) { logs.contains("blocked") }
            }
            return daemon
        }
        defer { stop(handle) }
        let push = try Socket(.push)
        try push.connect(endpoint)
        try push.send(textFrames("x"))
        #expect(eventually { logs.contains("Slow event loop blocked for") })
        let warning = try #require(logs.all.first { $0.message.contains("blocked for") })
        #expect(warning.level == .warning)
        #expect(warning.message.hasSuffix(" s by channel slowpoke"))
    }

    @Test("a stall is reported twice: once when it crosses the threshold, once when it ends, with its real duration")
    func watchdogReportsTheRealDuration() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        configuration.blockingThreshold = .milliseconds(100)
        let config = configuration
        let endpoint = bindEndpoint(.inproc)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Slow", ChannelSpec(name: "slowpoke", socket: .pull, endpoints: [endpoint], bind: true)),
                                    configuration: config)
            daemon.onReceive(0) { _ in
                // Blocks 0.4 s per message (well past the threshold, measured by the clock).
                let clock = ContinuousClock()
                let end = clock.now + .milliseconds(400)
                while clock.now < end { usleep(10_000) }
            }
            return daemon
        }
        defer { stop(handle) }
        let push = try Socket(.push)
        defer { push.close(linger: 0) }
        try push.connect(endpoint)
        try push.send(textFrames("x"))
        #expect(eventually { logs.contains("(running again)") })
        let lines = logs.messages.filter { $0.contains("blocked") }
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first == "Slow event loop blocked for over 0.100 s by channel slowpoke")
        let last = try #require(lines.last)
        #expect(last.hasPrefix("Slow event loop was blocked for ") && last.hasSuffix(" s by channel slowpoke (running again)"), "\(last)")
        let seconds = Double(last.dropFirst("Slow event loop was blocked for ".count).prefix { $0 != " " }) ?? 0
        #expect(seconds >= 0.4 && seconds < 5, "\(last)")
    }

    @Test func watchdogNamesTheBlockingTimer() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        configuration.blockingThreshold = .milliseconds(100)
        let config = configuration
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Ticker"), configuration: config)
            daemon.onStart {
                daemon.loop.scheduleTask(in: .milliseconds(1), name: "heartbeat") {
                    _ = eventually(timeout: .seconds(5)) { logs.contains("blocked") }
                }
            }
            return daemon
        }
        defer { stop(handle) }
        #expect(eventually { logs.contains("Ticker event loop blocked for") })
        #expect(logs.messages.contains { $0.contains("blocked for") && $0.hasSuffix(" s by timer heartbeat") })
    }

    /// zgen's layout: a status frame before the reply; a handler that throws still answers, with
    /// a failure naming the error, so the requester never waits for a reply that cannot come.
    @Test func repRepliesToRequests() throws {
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Echo", ChannelSpec(name: "echo", socket: .rep, endpoints: ["tcp://127.0.0.1:*"], bind: true)))
            daemon.onRequest(0) { frames in
                if frames == textFrames("fail") { throw Boom() }
                return frames.reversed()
            }
            return daemon
        }
        defer { stop(handle) }
        let client = try Socket(.req)
        try client.connect(try #require(handle.boundEndpoints(0).first))
        try client.send(textFrames("a", "", "b"))
        #expect(try client.receive(timeout: .seconds(10)) == textFrames("ok", "b", "", "a"))
        try client.send(textFrames("fail"))
        #expect(try client.receive(timeout: .seconds(10)) == textFrames("failure", "Boom()"))
        try client.send(textFrames("c"))  // the REP socket stays usable
        #expect(try client.receive(timeout: .seconds(10)) == textFrames("ok", "c"))
        #expect(onLoop(handle) { $0.counters(0) } == ChannelCounters(received: 3, sent: 3, handlerErrors: 1, failed: 1))
    }

    /// ROUTER: envelope stripped for both peer shapes, replies go back in the shape received.
    @Test func routerHandlesDealerAndReqPeers() throws {
        let bodies = Box<[[Frame]]>([])
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Broker", ChannelSpec(name: "front", socket: .router, endpoints: ["tcp://127.0.0.1:*"], bind: true)))
            daemon.onRouted(0) { peer, frames in
                bodies.update { $0.append(frames) }
                try daemon.send(frames + textFrames("ok"), on: 0, to: peer)
            }
            return daemon
        }
        defer { stop(handle) }
        let endpoint = try #require(handle.boundEndpoints(0).first)
        let req = try Socket(.req)
        try req.connect(endpoint)
        let dealer = try Socket(.dealer)
        try dealer.connect(endpoint)
        try req.send(textFrames("from req"))
        #expect(try req.receive(timeout: .seconds(10)) == textFrames("from req", "ok"))
        try dealer.send(textFrames("from dealer", ""))
        #expect(try dealer.receive(timeout: .seconds(10)) == textFrames("from dealer", "", "ok"))
        #expect(bodies.get == [textFrames("from req"), textFrames("from dealer", "")])
    }

    @Test func reqGetsRepliesRefusesASecondRequestAndTimesOutLazyPirate() throws {
        let server = try Socket(.rep)
        let endpoint = try server.bind("tcp://127.0.0.1:*")
        let replies = Box<[String]>([])
        let secondSendError = Box<String?>(nil)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Client", ChannelSpec(name: "rpc", socket: .req, endpoints: [endpoint], timeout: 1000)))
            daemon.onReply(0) { result in
                switch result {
                case .success(let frames): replies.update { $0.append(text(frames[0])) }
                case .failure(.timeout(let timeout)):
                    replies.update { $0.append("timeout \(timeout.channel) \(timeout.milliseconds)") }
                    try daemon.send(textFrames("again"), on: 0)  // the reopened socket takes a new request
                case .failure(let other): replies.update { $0.append("unexpected \(other)") }
                }
            }
            daemon.onStart {
                try daemon.send(textFrames("first"), on: 0)
                do { try daemon.send(textFrames("second"), on: 0) } catch { secondSendError.update { $0 = "\(error)" } }
            }
            return daemon
        }
        defer { stop(handle) }
        #expect(try server.receive(timeout: .seconds(10)) == textFrames("first"))
        try server.send(textFrames("ok", "reply 1"))
        #expect(eventually { replies.get == ["reply 1"] })
        #expect(secondSendError.get == "REQ channel rpc: cannot send a new request before the reply to the previous one (or its timeout)")
        // Now a request the server never answers.
        handle.execute { (daemon: Daemon) in try? daemon.send(textFrames("lost"), on: 0) }
        #expect(try server.receive(timeout: .seconds(10)) == textFrames("lost"))
        #expect(eventually { replies.get.count == 2 })
        #expect(replies.get.last == "timeout rpc 1000")
        try server.send(textFrames("ok", "too late"))  // goes to the closed socket's connection
        #expect(try server.receive(timeout: .seconds(10)) == textFrames("again"))
        try server.send(textFrames("ok", "reply 2"))
        #expect(eventually { replies.get == ["reply 1", "timeout rpc 1000", "reply 2"] })
    }

    /// Two daemons in one process share the default context, so inproc works between them;
    /// a private context is terminated once its daemon is done.
    @Test func daemonsShareTheContextAndReleaseIt() throws {
        let endpoint = bindEndpoint(.inproc)
        let got = Box<[String]>([])
        let consumer = try startDaemon {
            let daemon = try Daemon(spec: .test("Consumer", ChannelSpec(name: "in", socket: .pull, endpoints: [endpoint], bind: true)))
            daemon.onReceive(0) { frames in got.update { $0.append(text(frames[0])) } }
            return daemon
        }
        let producer = try startDaemon {
            let daemon = try Daemon(spec: .test("Producer", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint])))
            daemon.onStart { try daemon.send(textFrames("over inproc"), on: 0) }
            return daemon
        }
        #expect(eventually { got.get == ["over inproc"] })
        stop(producer)
        stop(consumer)

        final class Weak: @unchecked Sendable { weak var context: ZMQContext? }
        let weak = Weak()
        let handle = try startDaemon {
            var configuration = DaemonConfiguration()
            let context = try ZMQContext()
            weak.context = context
            configuration.context = context
            return try Daemon(spec: .test("Private", ChannelSpec(name: "in", socket: .pull, endpoints: ["tcp://127.0.0.1:*"], bind: true)),
                              configuration: configuration)
        }
        #expect(weak.context != nil)
        stop(handle)
        #expect(eventually { weak.context == nil })  // once the daemon object is gone too
    }
}
