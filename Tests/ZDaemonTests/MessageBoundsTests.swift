import Testing
import ZDaemon
import ZDaemonTesting

/// What one received message may hold (README "Limits against peers"), and how repeated
/// per-message log lines are summarised.
@Suite("Message bounds and summarised logs")
struct MessageBoundsTests {
    enum Kind: CaseIterable { case copied, borrowed }

    @Test("a message over maxParts or maxTotalSize is dropped and counted, the ones around it are handled in order",
          arguments: Kind.allCases)
    func oversizedMessagesAreDropped(_ kind: Kind) throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let config = configuration
        let handled = Box<[[Frame]]>([])
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Worker", ChannelSpec(
                name: "input", socket: .pull, endpoints: ["tcp://127.0.0.1:*"], bind: true,
                options: ChannelOptions(maxParts: 4, maxTotalSize: 1024))), configuration: config)
            switch kind {
            case .copied: daemon.onReceive(0) { frames in handled.update { $0.append(frames) } }
            case .borrowed: daemon.onReceiveBorrowed(0) { frames in handled.update { $0.append(frames.copied()) } }
            }
            return daemon
        }
        defer { stop(handle) }
        let push = try Socket(.push)
        defer { push.close(linger: 1000) }
        try push.connect(try #require(handle.boundEndpoints(0).first))
        let four = [Frame](repeating: Frame(repeating: 7, count: 256), count: 4)  // exactly both limits
        let messages: [[Frame]] = [
            textFrames("a"),
            textFrames("1", "2", "3", "4", "5"),                     // 5 frames
            [Frame(repeating: 1, count: 2000)],                      // 2000 bytes
            four,
            textFrames("b"),
            [Frame](repeating: [9], count: 100),                     // 100 frames
            [Frame(repeating: 2, count: 600), Frame(repeating: 3, count: 600)],  // 1200 bytes in two
            textFrames("c"),
        ]
        for message in messages { try push.send(message) }
        #expect(eventually { handled.get.count == 4 })
        #expect(handled.get == [textFrames("a"), four, textFrames("b"), textFrames("c")])
        #expect(eventually { onLoop(handle) { $0.counters(0) } == ChannelCounters(received: 4, sent: 0, dropped: 4, handlerErrors: 0) })
        let limits = "(limits: maxParts 4, maxTotalSize 1024)"
        #expect(logs.messages.filter { $0.contains("dropped oversized message") } == [
            "Worker: dropped oversized message on input: 5 frames, 5 bytes \(limits)",
            "Worker: dropped oversized message on input: 1 frames, 2000 bytes \(limits)",
            "Worker: dropped oversized message on input: 100 frames, 100 bytes \(limits)",
            "Worker: dropped oversized message on input: 2 frames, 1200 bytes \(limits)",
        ])
    }

    @Test("a REP answers an oversized request with a failure and takes the next request; a REQ's oversized reply ends its request with a failure")
    func oversizedRequestsAndRepliesGetAnOutcome() throws {
        let endpoint = bindEndpoint(.inproc)
        let outcomes = Box<[String]>([])
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Pair",
                ChannelSpec(name: "serve", socket: .rep, endpoints: [endpoint], bind: true, options: ChannelOptions(maxParts: 2)),
                ChannelSpec(name: "ask", socket: .req, endpoints: [endpoint], options: ChannelOptions(maxTotalSize: 256))))
            daemon.onRequest(0) { frames in
                frames.count == 1 && frames[0] == Array("big".utf8) ? [Frame(repeating: 1, count: 300)] : [[UInt8(frames.count)]]
            }
            daemon.onReply(1) { result in
                switch result {
                case .success(let body): outcomes.update { $0.append("ok \(body)") }
                case .failure(.remote(let failure)): outcomes.update { $0.append("remote \(failure.reason)") }
                case .failure(let other): outcomes.update { $0.append("other \(other)") }
                }
            }
            return daemon
        }
        defer { stop(handle) }
        func ask(_ frames: [Frame]) {
            _ = handle.execute { (daemon: Daemon) in try? daemon.send(frames, on: 1) }
        }
        ask(textFrames("a", "b", "c"))                                   // 3 frames: over the REP's maxParts
        #expect(eventually { outcomes.get.count == 1 })
        ask(textFrames("a", "b"))
        #expect(eventually { outcomes.get.count == 2 })
        ask(textFrames("big"))                                           // a 300-byte reply: over the REQ's maxTotalSize
        #expect(eventually { outcomes.get.count == 3 })
        ask(textFrames("a"))
        #expect(eventually { outcomes.get.count == 4 })
        #expect(outcomes.get == [
            "remote request over the limit: 3 frames, 3 bytes (limits: maxParts 2, maxTotalSize 4194304)",
            "ok [[2]]",
            "remote reply over the limit: 2 frames, 302 bytes (limits: maxParts 64, maxTotalSize 256)",
            "ok [[1]]",
        ])
        let counters = try #require(onLoop(handle) { [$0.counters(0), $0.counters(1)] })
        #expect([counters[0].received, counters[0].sent, counters[0].dropped, counters[0].failed] == [3, 4, 1, 1])  // REP
        #expect([counters[1].received, counters[1].sent, counters[1].dropped, counters[1].failed] == [3, 4, 1, 2])  // REQ
    }

    @Test("the default bounds: 64 frames and 4 MiB a message")
    func defaultBounds() throws {
        let handled = Box<[Int]>([])
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Worker", ChannelSpec(name: "input", socket: .pull, endpoints: [bindEndpoint(.inproc)], bind: true)))
            daemon.onReceive(0) { frames in handled.update { $0.append(frames.count) } }
            return daemon
        }
        defer { stop(handle) }
        let push = try Socket(.push, context: try #require(onLoop(handle) { $0.context }))
        defer { push.close(linger: 0) }
        try push.connect(try #require(handle.boundEndpoints(0).first))
        try push.send([Frame](repeating: [1], count: 64))
        try push.send([Frame](repeating: [1], count: 65))
        try push.send([Frame(repeating: 0, count: 4 << 20)])
        try push.send([Frame(repeating: 0, count: 4 << 20), [1]])
        try push.send([[2]])
        #expect(eventually { handled.get.count == 3 })
        #expect(handled.get == [64, 1, 1])
        #expect(eventually { onLoop(handle) { $0.counters(0).dropped } == 2 })
    }

    @Test("a flood of malformed messages and handler errors gives the first 5 lines of each in full and one summary each; every valid message is handled")
    func repeatedLinesAreSummarised() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        let config = configuration
        let handled = Box(0)
        let endpoint = bindEndpoint(.inproc)
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Worker", ChannelSpec(name: "input", socket: .pull, endpoints: [endpoint], bind: true)),
                                    configuration: config)
            daemon.onReceive(0) { frames in
                var reader = FrameReader(frames, message: "Text")
                let text = try reader.string("text")
                try reader.finish()
                if text == "fail" { throw ZDaemonError("refused \(frames.count)") }
                handled.update { $0 += 1 }
            }
            return daemon
        }
        let push = try Socket(.push, context: try #require(onLoop(handle) { $0.context }))
        try push.connect(endpoint)
        for index in 0..<3000 {
            try push.send(index % 3 == 0 ? [[0xFF]] : index % 3 == 1 ? textFrames("fail") : textFrames("ok"))
        }
        #expect(eventually { handled.get == 1000 })
        #expect(eventually { onLoop(handle) { $0.counters(0) } == ChannelCounters(received: 3000, sent: 0, dropped: 1000, handlerErrors: 1000) })
        push.close(linger: 0)
        #expect(handle.terminateAndWait())
        let malformed = logs.messages.filter { $0.contains("malformed") }
        let failed = logs.messages.filter { $0.contains("refused") }
        #expect(malformed.count == 6, "\(malformed)")
        #expect(malformed.last == "Worker: 995 more malformed messages dropped on input in the last 10 s; the last: malformed Text: frame 0 (text): invalid UTF-8")
        #expect(failed.count == 6, "\(failed)")
        #expect(failed.first == "Worker: handler for input failed: refused 1")
        #expect(failed.last == "Worker: 995 more handler errors on input in the last 10 s; the last: refused 1")
    }
}
