import Foundation
import Logging
import Testing

@testable import ZDaemon
@testable import ZDaemonProcess
import ZDaemonTesting

/// An INI whose root logs to a console and to a ZMQHandler `central`, with `extra` keys in it.
func centralINI(_ extra: String = "args = ('tcp://127.0.0.1:9020',)") -> String {
    """
    [loggers]
    keys = root

    [handlers]
    keys = console, central

    [logger_root]
    level = INFO
    handlers = console, central

    [handler_console]
    class = StreamHandler
    args = (sys.stderr,)

    [handler_central]
    class = ZMQHandler
    \(extra)
    """
}

/// Reads shipped records from `socket` until `done` says so or 10 s pass without a message.
func receiveRecords(_ socket: Socket, until done: ([LogRecord]) -> Bool) throws -> [LogRecord] {
    var records: [LogRecord] = []
    while !done(records), let frames = try socket.receive(timeout: .seconds(10)) {
        #expect(frames.count == 2)
        records.append(try CentralLogRecord.decode(topic: frames[0], record: frames[1]))
    }
    return records
}

@Suite("Centralized logging: the record layout")
struct CentralRecordTests {
    @Test("A record survives encoding: every field, metadata nested, text that needs escaping")
    func roundTrip() throws {
        var original = record("tab\there \"quoted\" \\ newline\n é ✓ \u{01}", name: "cs.eyrie.worker", level: .warning)
        original.metadata = ["job": "42", "nested": .dictionary(["list": .array(["a", "b"])]), "count": .stringConvertible(7)]
        original.source = "MyZmqExample"
        original.hostname = "web-3"
        original.app = "my_zmq"
        let frames = CentralLogRecord.frames(of: original)
        #expect(String(decoding: frames[0], as: UTF8.self) == "my_zmq.WARNING.cs.eyrie.worker")
        let decoded = try CentralLogRecord.decode(topic: frames[0], record: frames[1])
        #expect(decoded.name == original.name)
        #expect(decoded.level == .warning)
        #expect(decoded.message == original.message)
        #expect(decoded.metadata["job"] == "42")
        #expect(decoded.metadata["count"] == "7")
        #expect(decoded.metadata["nested"] == .dictionary(["list": .array(["a", "b"])]))
        #expect(decoded.processName == "(my:worker:3)")
        #expect(decoded.process == 4242)
        #expect(decoded.created == 1_700_000_000.25)
        #expect(decoded.file == "Sources/App/Worker.swift")
        #expect(decoded.function == "onJob(_:)")
        #expect(decoded.line == 17)
        #expect(decoded.source == "MyZmqExample")
        #expect(decoded.hostname == "web-3")
        #expect(decoded.app == "my_zmq")
        let json = String(decoding: frames[1], as: UTF8.self)
        #expect(json.hasPrefix("{\"v\":1,\"time\":1700000000.250000,\"level\":\"WARNING\",\"label\":\"cs.eyrie.worker\","))
        #expect(json.contains("\\u0001"))
    }

    @Test("A huge message is cut to 32 KiB and says so; the record stays within 64 KiB")
    func truncation() throws {
        let text = String(repeating: "é", count: 50_000)  // 100,000 bytes
        var big = record(text)
        big.metadata = ["blob": .string(String(repeating: "x", count: 70_000))]
        let frame = CentralLogRecord.encode(big)
        #expect(frame.count <= CentralLogRecord.maxRecordBytes)
        let decoded = try CentralLogRecord.decode(topic: Array("a.INFO.root".utf8), record: frame)
        #expect(decoded.message.hasSuffix("… (truncated, 100000 bytes)"))
        #expect(decoded.message.hasPrefix("éééé"))
        #expect(decoded.metadata["blob"] == nil)
        #expect(decoded.metadata["truncated"]?.description.hasPrefix("metadata of ") == true)
    }

    @Test("A message that grows when escaped (quotes, control characters) still fits in 64 KiB")
    func escapedTruncation() throws {
        let frame = CentralLogRecord.encode(record(String(repeating: "\u{01}\"", count: 16_000)))
        #expect(frame.count <= CentralLogRecord.maxRecordBytes)
        let decoded = try CentralLogRecord.decode(topic: Array("a".utf8), record: frame)
        #expect(decoded.message.hasSuffix("… (truncated, 32000 bytes)"))
    }

    @Test("Malformed records are refused with the reason", arguments: [
        ("not json", "record: not JSON"),
        ("[1, 2]", "record: not a JSON object"),
        ("{\"time\": 1, \"message\": \"m\"}", "record: 'level' is missing"),
        ("{\"time\": 1, \"level\": \"LOUD\", \"message\": \"m\"}", "record: unknown level 'LOUD' (expected TRACE, DEBUG, INFO, NOTICE, WARNING, ERROR or CRITICAL)"),
        ("{\"time\": \"now\", \"level\": \"INFO\", \"message\": \"m\"}", "record: 'time' must be seconds since the epoch, not a string"),
        ("{\"time\": 1, \"level\": \"INFO\"}", "record: 'message' is missing"),
        ("{\"time\": 1, \"level\": \"INFO\", \"message\": 5}", "record: 'message' must be a string, not a number"),
        ("{\"time\": 1, \"level\": \"INFO\", \"message\": \"m\", \"line\": -3}", "record: 'line' must be a non-negative integer, not a number"),
        ("{\"time\": 1, \"level\": \"INFO\", \"message\": \"m\", \"metadata\": []}", "record: 'metadata' must be an object, not an array"),
        ("{\"v\": 2, \"time\": 1, \"level\": \"INFO\", \"message\": \"m\"}", "record: layout version 2 is newer than this reader's (1)"),
    ])
    func malformed(json: String, expected: String) {
        #expect(throws: CentralLogRecord.Malformed.self) {
            _ = try CentralLogRecord.decode(topic: Array("t".utf8), record: Array(json.utf8))
        }
        do {
            _ = try CentralLogRecord.decode(topic: Array("t".utf8), record: Array(json.utf8))
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }

    @Test("A hostile record (deep nesting, invalid UTF-8 topic, oversized) is refused, never a crash")
    func hostile() {
        let nesting = String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000)
        let deep = Array(("{\"time\":1,\"level\":\"INFO\",\"message\":\"m\",\"metadata\":{\"k\":" + nesting + "}}").utf8)
        #expect(throws: CentralLogRecord.Malformed.self) { _ = try CentralLogRecord.decode(topic: [0x61], record: deep) }
        #expect(throws: CentralLogRecord.Malformed.self) {
            _ = try CentralLogRecord.decode(topic: [0x61], record: Array("{\"time\":1e19,\"level\":\"INFO\",\"message\":\"m\"}".utf8))
        }
        // The latest time allowed still formats (a date far away, never a trap).
        let far = try? CentralLogRecord.decode(topic: [0x61], record: Array("{\"time\":999999999999,\"level\":\"INFO\",\"message\":\"m\"}".utf8))
        #expect(far.map { LogFormat.standard.format($0).hasSuffix(" m") } == true)
        #expect(throws: CentralLogRecord.Malformed(frame: 0, reason: "not UTF-8")) {
            _ = try CentralLogRecord.decode(topic: [0xFF, 0xFE], record: Array("{}".utf8))
        }
        #expect(throws: CentralLogRecord.Malformed.self) {
            _ = try CentralLogRecord.decode(topic: [0x61], record: [UInt8](repeating: 0x20, count: 70_000))
        }
    }

    @Test("Only time, level and message are required; unknown keys are ignored")
    func minimal() throws {
        let decoded = try CentralLogRecord.decode(
            topic: Array("x".utf8), record: Array("{\"time\": 5.5, \"level\": \"warning\", \"message\": \"hi\", \"future\": [1]}".utf8))
        #expect(decoded.level == .warning)
        #expect(decoded.message == "hi")
        #expect(decoded.name == "root")
        #expect(decoded.hostname == "-")
        #expect(decoded.created == 5.5)
    }
}

@Suite("Centralized logging: the ZMQHandler's configuration")
struct ZMQHandlerConfigurationTests {
    func publisher(_ text: String, environment: [String: String] = [:], assignments: [String] = []) throws -> LogPublisher? {
        let configuration = try LoggingConfiguration(document: parse(text), path: "app.ini", environment: environment,
                                                     assignments: assignments)
        return configuration.handlers.first { $0.key == "central" }?.publisher
    }

    @Test("The endpoint comes from args or its own key; overrides: --set beats the environment beats the INI")
    func endpoints() throws {
        #expect(try publisher(centralINI())?.settings.endpoints == ["tcp://127.0.0.1:9020"])
        #expect(try publisher(centralINI("endpoint = ipc:///run/a, tcp://logs:9020\nqueue = 50\nhwm = 7\nlinger = 250"))?.settings
            == LogPublisher.Settings(endpoints: ["ipc:///run/a", "tcp://logs:9020"], queueLimit: 50, hwm: 7, linger: .milliseconds(250)))
        let environment = ["ZGEN_LOG_CENTRAL_ENDPOINT": "tcp://env:1", "ZGEN_LOG_CENTRAL_QUEUE": "9"]
        #expect(try publisher(centralINI(), environment: environment)?.settings.endpoints == ["tcp://env:1"])
        let both = try publisher(centralINI(), environment: environment, assignments: ["log.central.endpoint=tcp://cli:2"])
        #expect(both?.settings.endpoints == ["tcp://cli:2"])
        #expect(both?.settings.queueLimit == 9)
        let level = try LoggingConfiguration(document: parse(centralINI()), path: "app.ini", assignments: ["log.central.level=ERROR"])
        #expect(level.handlers[1].level == .error)
    }

    @Test("Mistakes are one-line errors naming where", arguments: [
        (centralINI(""), [String](), "app.ini:15:1: error: [handler_central] a ZMQHandler needs the collector's endpoint"),
        (centralINI("endpoint = tcp://*:9020"), [], "app.ini:17:12: error: [handler_central] endpoint: 'tcp://*:9020' is a bind address"),
        (centralINI("endpoint = tcp://a:1\nport = 4"), [], "app.ini:18:1: error: [handler_central] unknown key 'port' for a ZMQHandler"),
        (centralINI("endpoint = tcp://a:1\nqueue = lots"), [], "app.ini:18:9: error: [handler_central] queue: expected an integer in 1...1000000, not 'lots'"),
        (centralINI("endpoint = udp://a:1"), [], "app.ini:17:12: error: bad endpoint 'udp://a:1': unknown transport 'udp'"),
        (centralINI(), ["log.console.endpoint=tcp://a:1"], "--set log.console.endpoint=tcp://a:1: error: endpoint: handler 'console' is a StreamHandler; only a ZMQHandler takes this key"),
        (centralINI(), ["log.nope.endpoint=tcp://a:1"], "--set log.nope.endpoint=tcp://a:1: error: no handler 'nope' in [handlers] keys (have: console, central)"),
        (centralINI(), ["log.central.colour=red"], "--set log.central.colour=red: error: unknown log handler key 'colour'"),
        (centralINI("endpoint = tcp://a:1\ncurve_server_public_key_file = /nonexistent/zlogd.key"), [], "app.ini:18:32: error: curve_server_public_key_file: "),
    ])
    func errors(text: String, assignments: [String], expected: String) {
        do {
            _ = try LoggingConfiguration(document: parse(text), path: "app.ini", assignments: assignments)
            Issue.record("no error; expected \(expected)")
        } catch let error as ConfigurationError {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("A collector leaves its ZMQHandlers out; loggers keep their other handlers")
    func withoutPublishers() throws {
        let configuration = try LoggingConfiguration(document: parse(centralINI()), path: "app.ini").withoutPublishers()
        #expect(configuration.handlers.map(\.key) == ["console"])
        #expect(configuration.resolve("root").handlers == [0])
    }
}

@Suite("Centralized logging: the publisher", .serialized)
struct LogPublisherTests {
    @Test("Collector down: records are held (bounded), the rest dropped and counted; when it comes up the held ones arrive in order, then the drop note")
    func downThenBack() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let endpoint = scratch.endpoint("logs")
        let metrics = CountingMetrics()
        let publisher = LogPublisher(name: "central", settings: .init(endpoints: [endpoint], queueLimit: 20, reconnectInterval: 10),
                                     metricsFactory: metrics)
        defer { publisher.close(timeout: .zero) }
        var longest = Duration.zero
        for n in 1...50 {
            let started = ContinuousClock.now
            publisher.publish(record("line \(n)"))
            longest = max(longest, ContinuousClock.now - started)
        }
        // Never waits for the absent collector (a blocking handler would wait here for ever).
        #expect(longest < .seconds(1), "the longest publish took \(longest)")
        #expect(publisher.statistics == LogPublisher.Statistics(sent: 0, dropped: 30, queued: 20, subscribed: false))

        let collector = try Socket(.sub, context: ZMQContext())
        try collector.setOption(.subscribe([]))
        try collector.bind(endpoint)
        var records = try receiveRecords(collector) { $0.count == 20 }
        #expect(records.map(\.message) == (1...20).map { "line \($0)" })
        publisher.publish(record("line 51"))
        records = try receiveRecords(collector) { $0.count == 2 }
        #expect(records.count == 2)
        #expect(records.first?.name == "zdaemon.log")
        #expect(records.first?.level == .warning)
        #expect(records.first?.metadata["dropped"] == "30")
        #expect(records.first?.message.hasPrefix("30 log records were dropped by log handler 'central': its queue (20 records, 16 MiB) was full") == true)
        #expect(records.last?.message == "line 51")
        #expect(eventually { publisher.statistics.sent == 22 })
        #expect(metrics.value("zdaemon_log_records_sent", [("handler", "central")]) == 22)
        #expect(metrics.value("zdaemon_log_records_dropped", [("handler", "central")]) == 30)
        #expect(publisher.close(timeout: .seconds(1)) == 0)
    }

    @Test("Collector slow (not reading): publishing never waits; every record arrives once, in order, or is counted in a drop note")
    func slowCollector() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let endpoint = scratch.endpoint("logs")
        let collector = try Socket(.sub, context: ZMQContext())
        try collector.setOption(.receiveHWM(10))
        try collector.setOption(.subscribe([]))
        try collector.bind(endpoint)
        let publisher = LogPublisher(name: "central", settings: .init(endpoints: [endpoint], queueLimit: 100, hwm: 10))
        defer { publisher.close(timeout: .zero) }
        publisher.publish(record("hello"))
        #expect(try receiveRecords(collector) { $0.count == 1 }.map(\.message) == ["hello"])

        // The collector pauses; 5000 records go out while it does.
        let total = 5000
        var longest = Duration.zero
        for n in 1...total {
            let started = ContinuousClock.now
            publisher.publish(record("line \(n)"))
            longest = max(longest, ContinuousClock.now - started)
        }
        #expect(longest < .seconds(1), "the longest publish took \(longest)")
        let dropped = publisher.statistics.dropped
        #expect(dropped > 0, "the queue of 100 and the high-water marks of 10 cannot hold 5000 records")

        // It reads again: what was held arrives; one more record marks any drops at the end.
        var records: [LogRecord] = []
        while let frames = try collector.receive(timeout: .milliseconds(500)) {
            records.append(try CentralLogRecord.decode(topic: frames[0], record: frames[1]))
        }
        #expect(eventually { publisher.statistics.queued == 0 })
        publisher.publish(record("end"))
        records += try receiveRecords(collector) { $0.last?.message == "end" }
        #expect(records.last?.message == "end")
        let numbers = records.compactMap { $0.message.hasPrefix("line ") ? Int($0.message.dropFirst(5)) : nil }
        #expect(numbers == numbers.sorted() && Set(numbers).count == numbers.count, "in order, each once")
        let noted = records.filter { $0.name == "zdaemon.log" }.compactMap { $0.metadata["dropped"].flatMap { Int("\($0)") } }
        #expect(noted.reduce(0, +) == dropped)
        #expect(numbers.count + dropped == total)
        #expect(publisher.close(timeout: .seconds(1)) == 0)
    }

    @Test("A collector that goes away unsubscribes: records are held again and reach the next collector")
    func collectorLeaves() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let endpoint = scratch.endpoint("logs")
        let publisher = LogPublisher(name: "central", settings: .init(endpoints: [endpoint], reconnectInterval: 10))
        defer { publisher.close(timeout: .zero) }
        do {
            let first = try Socket(.sub, context: ZMQContext())
            try first.setOption(.subscribe([]))
            try first.bind(endpoint)
            publisher.publish(record("one"))
            #expect(try receiveRecords(first) { $0.count == 1 }.map(\.message) == ["one"])
            first.close(linger: 0)
        }
        #expect(eventually { !publisher.statistics.subscribed }, "the XPUB saw the unsubscription")
        publisher.publish(record("two"))
        publisher.publish(record("three"))
        #expect(publisher.statistics.queued == 2)
        let second = try Socket(.sub, context: ZMQContext())
        try second.setOption(.subscribe([]))
        try second.bind(endpoint)
        #expect(try receiveRecords(second) { $0.count == 2 }.map(\.message) == ["two", "three"])
        #expect(publisher.statistics.dropped == 0)
    }

    @Test("Closing with no collector returns what was not delivered; later records are dropped and counted")
    func closeUndelivered() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let publisher = LogPublisher(name: "central", settings: .init(endpoints: [scratch.endpoint("nobody")], linger: .milliseconds(100)))
        for n in 1...3 { publisher.publish(record("line \(n)")) }
        let started = ContinuousClock.now
        #expect(publisher.close(timeout: .seconds(5)) == 3)
        #expect(ContinuousClock.now - started < .seconds(3), "bounded by the linger, not the timeout")
        publisher.publish(record("after"))
        #expect(publisher.statistics.dropped == 1)
    }
}

/// README's "Without the process layer" example, compiled as written (swift-log bootstraps once
/// per process, so the test below runs the same handler through `Logger(label:factory:)`).
func readmeZMQLogHandlerExample() {
    let publisher = LogPublisher(name: "central", settings: .init(endpoints: ["tcp://logs:9020"]))
    LoggingSystem.bootstrap { label in
        MultiplexLogHandler([
            StreamLogHandler.standardError(label: label),
            ZMQLogHandler(label: label, publisher: publisher, app: "billing", title: "(billing:api)"),
        ])
    }
    // … and before exiting: publisher.close(timeout: .seconds(1))
}

@Suite("Centralized logging: ZMQLogHandler without the process layer")
struct ZMQLogHandlerTests {
    @Test("README's handler ships records from .info up, with label, app, title, metadata and the error")
    func shipsRecords() throws {
        _ = readmeZMQLogHandlerExample as () -> Void
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let endpoint = scratch.endpoint("logs")
        let collector = try Socket(.sub, context: ZMQContext())
        try collector.setOption(.subscribe(Array("billing.".utf8)))
        try collector.bind(endpoint)
        let publisher = LogPublisher(name: "central", settings: .init(endpoints: [endpoint]))
        defer { publisher.close(timeout: .seconds(1)) }
        var logger = Logger(label: "billing.api") { label in
            ZMQLogHandler(label: label, publisher: publisher, app: "billing", title: "(billing:api)")
        }
        logger[metadataKey: "request"] = "r-7"
        struct Refused: Error {}
        logger.debug("not shipped: below .info")
        logger.info("charged", metadata: ["amount": "12.50"])
        logger.error("refused", error: Refused())
        let records = try receiveRecords(collector) { $0.count == 2 }
        #expect(records.map(\.message) == ["charged", "refused"])
        #expect(records.allSatisfy { $0.name == "billing.api" && $0.app == "billing" && $0.processName == "(billing:api)" })
        #expect(records.first?.metadata == ["request": "r-7", "amount": "12.50"])
        #expect(records.last?.metadata["error"] == "Refused()")
        #expect(records.last?.level == .error)
        #expect(records.first?.source == "ZDaemonProcessTests")
    }
}

@Suite("Channel override: security")
struct SecurityOverrideTests {
    let plain = DaemonSpec(name: "Collector", title: "(c)", app: "a", channels: [
        ChannelSpec(name: "records", socket: .sub, endpoints: ["tcp://*:9020"], bind: true, subscribe: [""]),
    ])
    let secured = DaemonSpec(name: "Vault", title: "(v)", app: "a", channels: [
        ChannelSpec(name: "orders", socket: .pull, endpoints: ["tcp://*:9021"], bind: true, security: .curve),
    ])

    @Test("security = curve turns CURVE on for a plaintext channel; a CURVE channel cannot be made plaintext")
    func upgradeOnly() throws {
        let document = try parse("[run:Collector.records]\nsecurity = curve\n")
        let configuration = try RuntimeConfiguration(document: document, path: "z.ini", specs: [plain, secured])
        let override = try #require(configuration.overrides["Collector"]?["records"])
        #expect(override.applied(to: plain.channels[0]).security == .curve)
        #expect(throws: ConfigurationError(origin: "--set Vault.orders.security=none",
            message: "security: channel orders is CURVE in its schema, and a configuration cannot make it plaintext")) {
            _ = try RuntimeConfiguration(document: parse(""), path: "z.ini", specs: [plain, secured],
                                         assignments: ["Vault.orders.security=none"])
        }
        #expect(throws: ConfigurationError(origin: "environment variable ZGEN_COLLECTOR_RECORDS_SECURITY",
            message: "security: expected none or curve, not 'tls'")) {
            _ = try RuntimeConfiguration(document: parse(""), path: "z.ini", specs: [plain, secured],
                                         environment: ["ZGEN_COLLECTOR_RECORDS_SECURITY": "tls"])
        }
    }
}

@Suite("Centralized logging: SIGHUP reload")
struct PublisherReloadTests {
    @Test("A reload keeps an unchanged ZMQHandler's publisher and retires a changed one")
    func reuse() throws {
        let first = try LoggingConfiguration(document: parse(centralINI()), path: "app.ini")
        let same = try LoggingConfiguration(document: parse(centralINI()), path: "app.ini")
        let (kept, none) = same.reusingPublishers(of: first)
        #expect(kept.handlers[1].publisher === first.handlers[1].publisher)
        #expect(none.isEmpty)
        let moved = try LoggingConfiguration(document: parse(centralINI()), path: "app.ini", assignments: ["log.central.endpoint=tcp://other:1"])
        let (fresh, retired) = moved.reusingPublishers(of: first)
        #expect(fresh.handlers[1].publisher === moved.handlers[1].publisher)
        #expect(retired.count == 1 && retired[0] === first.handlers[1].publisher)
    }
}

@Suite("systemd notify: the environment")
struct SystemdNotifierTests {
    @Test("NOTIFY_SOCKET absolute or @abstract; WATCHDOG_USEC halved, only for this pid")
    func environment() throws {
        #expect(SystemdNotifier(environment: [:]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "relative/path"]) == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@"]) == nil)
        let plain = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/run/systemd/notify"]))
        #expect(plain.path == "/run/systemd/notify" && plain.watchdogInterval == nil)
        let mine = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@n", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "\(getpid())"]))
        #expect(mine.watchdogInterval == .milliseconds(1500))
        let other = try #require(SystemdNotifier(environment: ["NOTIFY_SOCKET": "@n", "WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "1"]))
        #expect(other.watchdogInterval == nil)
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/socket"])?.send("READY=1") == false)
    }
}
