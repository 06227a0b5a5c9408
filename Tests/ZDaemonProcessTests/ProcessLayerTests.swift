import Foundation
import INIFormat
import Logging
import Testing

@testable import ZDaemon
@testable import ZDaemonProcess
import ZDaemonTesting

/// The seed's my_zmq.ini, as the tests' reference configuration.
let seedINI = """
    [app:my_zmq]
    use = egg:cs.eyrie

    [loggers]
    keys = root,eyrie

    [handlers]
    keys = console

    [formatters]
    keys = generic

    [logger_root]
    level = INFO
    handlers = console

    [logger_eyrie]
    level = DEBUG
    handlers =
    qualname = cs.eyrie

    [handler_console]
    class = logging.StreamHandler
    stream = sys.stderr
    level = NOTSET
    formatter = generic
    args=(sys.stderr,)

    [formatter_generic]
    format = %(processName)-13s %(message)s
    """

let workerSpec = DaemonSpec(
    name: "MyWorker", title: "(my:worker)", app: "my_zmq",
    channels: [
        ChannelSpec(name: "job", socket: .pull, endpoints: ["tcp://localhost:9090"]),
        ChannelSpec(name: "broadcast", socket: .sub, endpoints: ["tcp://localhost:9095"], subscribe: [""]),
    ])
let serverSpec = DaemonSpec(
    name: "MyServer", title: "(my:server)", app: "my_zmq",
    channels: [
        ChannelSpec(name: "job", socket: .push, endpoints: ["tcp://*:9090"], bind: true),
        ChannelSpec(name: "broadcast", socket: .pub, endpoints: ["tcp://*:9095"], bind: true),
    ])

func record(_ message: String, name: String = "root", level: Logger.Level = .info, title: String = "(my:worker:3)")
    -> LogRecord
{
    LogRecord(
        name: name, level: level, message: message, processName: title, process: 4242, created: 1_700_000_000.25,
        file: "Sources/App/Worker.swift", function: "onJob(_:)", line: 17)
}

func parse(_ text: String) throws -> INIDocument { try INIParser.parse(text) }

func configurationError(_ text: String, path: String = "app.ini") throws -> ConfigurationError? {
    let document = try parse(text)
    do {
        _ = try LoggingConfiguration(document: document, path: path)
        return nil
    } catch {
        return error
    }
}

/// A temporary directory removed at deinit.
final class TemporaryDirectory {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "zdaemon-process-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite("Log format (Python %-style)")
struct LogFormatTests {
    @Test func seedFormatPadsTheTitleTo13() throws {
        let format = try LogFormat("%(processName)-13s %(message)s")
        #expect(format.format(record("MyWorker has begun processing messages"))
            == "(my:worker:3) MyWorker has begun processing messages")
        #expect(format.format(record("MyServer has begun processing messages", title: "(my:server)"))
            == "(my:server)   MyServer has begun processing messages")
    }

    @Test func fieldsWidthsAndAlignment() throws {
        let format = try LogFormat("[%(levelname)8s|%(levelname)-8s] %(name)s %(process)d %(lineno)05d %(filename)s %(module)s %(funcName)s %%")
        #expect(format.format(record("x", name: "cs.eyrie", level: .warning))
            == "[ WARNING|WARNING ] cs.eyrie 4242 00017 Worker.swift Worker onJob(_:) %")
    }

    @Test func asctimeDefaultAndDatefmt() throws {
        let plain = try LogFormat("%(asctime)s")
        let text = plain.format(record("x"))
        #expect(text.hasSuffix(",250"))
        #expect(text.count == "2023-11-14 22:13:20,250".count)
        let custom = try LogFormat("%(asctime)s %(msecs)03d", dateFormat: "%Y")
        #expect(custom.format(record("x")).hasSuffix(" 250"))
        #expect(custom.format(record("x")).count == 8)
    }

    @Test func metadataOnlyWhenAskedFor() throws {
        var withMetadata = record("hello")
        withMetadata.metadata = ["daemon": "MyWorker", "title": "(my:worker)"]
        #expect(try LogFormat("%(message)s").format(withMetadata) == "hello")
        #expect(try LogFormat("%(message)s %(metadata)s").format(withMetadata) == "hello daemon=MyWorker title=(my:worker)")
    }

    @Test func badFormatsAreReported() {
        #expect(throws: LogFormat.Error.self) { try LogFormat("%(nosuch)s") }
        #expect(throws: LogFormat.Error.self) { try LogFormat("%(message)") }
        #expect(throws: LogFormat.Error.self) { try LogFormat("%(message)q") }
        #expect(throws: LogFormat.Error.self) { try LogFormat("100%") }
    }
}

@Suite("Logging configuration (fileConfig)")
struct LoggingConfigurationTests {
    @Test func seedConfigurationResolves() throws {
        let configuration = try LoggingConfiguration(document: try parse(seedINI), path: "my_zmq.ini")
        #expect(configuration.handlers.count == 1)
        #expect(configuration.handlers[0].sink?.target == .standardError)
        let root = configuration.resolve("root")
        #expect(root.level == .info)
        #expect(root.handlers == [0])
        // cs.eyrie has no handlers of its own but propagates to the root's, at DEBUG.
        let eyrie = configuration.resolve("cs.eyrie.vassal")
        #expect(eyrie.level == .debug)
        #expect(eyrie.handlers == [0])
        #expect(configuration.hasLogger("cs.eyrie"))
        #expect(!configuration.hasLogger("nosuch"))
    }

    @Test func noLoggingSectionsGivesTheStandardConfiguration() throws {
        let configuration = try LoggingConfiguration(document: try parse("[app:x]\na = 1\n"), path: "x.ini")
        #expect(configuration.resolve("anything").level == .info)
    }

    @Test func unknownHandlerClassNamesSectionKeyAndLine() throws {
        let text = seedINI.replacingOccurrences(of: "class = logging.StreamHandler", with: "class = logging.SysLogHandler")
        let error = try #require(try configurationError(text, path: "my_zmq.ini"))
        #expect(error.description
            == "my_zmq.ini:23:9: error: [handler_console] class: unknown handler class 'logging.SysLogHandler' (expected StreamHandler, FileHandler, NullHandler or ZMQHandler)")
    }

    @Test func unknownLevelNamesSectionKeyAndLine() throws {
        let text = seedINI.replacingOccurrences(of: "level = DEBUG", with: "level = CHATTY")
        let error = try #require(try configurationError(text, path: "my_zmq.ini"))
        #expect(error.description.hasPrefix("my_zmq.ini:18:9: error: [logger_eyrie] level: unknown level 'CHATTY'"))
    }

    @Test func otherProblems() throws {
        let missingRoot = seedINI.replacingOccurrences(of: "keys = root,eyrie", with: "keys = eyrie")
        #expect(try configurationError(missingRoot)?.message == "[loggers] keys must include 'root'")
        let missingHandler = seedINI.replacingOccurrences(of: "handlers = console", with: "handlers = file")
        #expect(try configurationError(missingHandler)?.message == "[logger_root] handlers: no handler 'file' in [handlers] keys")
        let badFormat = seedINI.replacingOccurrences(of: "%(processName)-13s", with: "%(title)s")
        let formatError = try #require(try configurationError(badFormat))
        #expect(formatError.description == "app.ini:30:10: error: [formatter_generic] format: unknown field '%(title)'")
        let badStream = seedINI.replacingOccurrences(of: "stream = sys.stderr", with: "stream = sys.stdin")
        #expect(try configurationError(badStream)?.message.contains("unknown stream 'sys.stdin'") == true)
    }

    @Test func pythonTuples() {
        #expect(LoggingConfiguration.pythonTuple("(sys.stderr,)") == ["sys.stderr"])
        #expect(LoggingConfiguration.pythonTuple("('app.log', 'a')") == ["app.log", "a"])
        #expect(LoggingConfiguration.pythonTuple("(\"a,b.log\",)") == ["a,b.log"])
    }

    @Test func fileHandlerWritesFormattedLinesAndLevelsFilter() throws {
        let directory = TemporaryDirectory()
        let file = directory.path + "/app.log"
        let text = """
            [loggers]
            keys = root,app
            [handlers]
            keys = file
            [formatters]
            keys = plain
            [logger_root]
            level = WARNING
            handlers = file
            [logger_app]
            level = DEBUG
            handlers =
            qualname = app
            [handler_file]
            class = FileHandler
            args = ('\(file)', 'w')
            level = INFO
            formatter = plain
            [formatter_plain]
            format = %(levelname)s:%(name)s:%(message)s
            """
        let configuration = try LoggingConfiguration(document: try parse(text), path: "x.ini")
        let state = LoggingState(configuration: configuration, processName: "(t)")
        let app = Logger(label: "app.worker") { ConfiguredLogHandler(label: $0, state: state) }
        let root = Logger(label: "root") { ConfiguredLogHandler(label: $0, state: state) }
        app.debug("hidden by the handler's INFO")
        app.info("shown")
        root.info("hidden by the root's WARNING")
        root.error("failed")
        // Sinks write from a thread of their own; flushing waits for it.
        #expect(configuration.handlers.allSatisfy { $0.flush(timeout: .seconds(10)) })
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(written == "INFO:app.worker:shown\nERROR:root:failed\n")
        // A reload changes the effective level of loggers that already exist.
        let louder = try LoggingConfiguration(
            document: try parse(text.replacingOccurrences(of: "level = WARNING", with: "level = INFO")
                .replacingOccurrences(of: "'w'", with: "'a'")), path: "x.ini")
        state.replace(louder)
        root.info("now shown")
        #expect(louder.handlers.allSatisfy { $0.flush(timeout: .seconds(10)) })
        #expect(try String(contentsOfFile: file, encoding: .utf8).hasSuffix("INFO:root:now shown\n"))
    }
}

@Suite("Runtime configuration and overrides")
struct RuntimeConfigurationTests {
    let document = try! INIParser.parse(
        seedINI + """

            [zgen]
            app = my_zmq
            [daemon:MyServer]
            title = (my:server)
            [run:MyWorker.job]
            endpoint = tcp://127.0.0.1:7001
            reconnect_ivl = 50
            [run:MyWorker.broadcast]
            endpoint = tcp://127.0.0.1:7002
            [run:control]
            endpoint = ipc:///tmp/zdaemon-test-control
            """)

    func make(environment: [String: String] = [:], set: [String] = []) throws(ConfigurationError) -> RuntimeConfiguration {
        try RuntimeConfiguration(
            document: document, path: "my_zmq.ini", specs: [serverSpec, workerSpec], environment: environment,
            assignments: set)
    }

    @Test func appSettingsAndINIOverrides() throws {
        let configuration = try make()
        #expect(configuration.settings(app: "my_zmq")["use"] == "egg:cs.eyrie")
        let job = try #require(configuration.overrides["MyWorker"]?["job"])
        #expect(job.endpoints == ["tcp://127.0.0.1:7001"])
        #expect(job.options.reconnectIvl == 50)
        #expect(configuration.control.endpoint == "ipc:///tmp/zdaemon-test-control")
        #expect(configuration.overrides["MyServer"] == nil)
    }

    @Test func precedenceCommandLineOverEnvironmentOverINI() throws {
        let environment = ["ZGEN_MYWORKER_JOB_ENDPOINT": "tcp://127.0.0.1:7101", "ZGEN_MYWORKER_BROADCAST_ENDPOINT": "ipc:///tmp/b"]
        let configuration = try make(environment: environment, set: ["MyWorker.job.endpoint=tcp://127.0.0.1:7201"])
        #expect(configuration.overrides["MyWorker"]?["job"]?.endpoints == ["tcp://127.0.0.1:7201"])
        #expect(configuration.overrides["MyWorker"]?["job"]?.options.reconnectIvl == 50)
        #expect(configuration.overrides["MyWorker"]?["broadcast"]?.endpoints == ["ipc:///tmp/b"])
        #expect(RuntimeConfiguration.environmentName(daemon: "MyWorker", channel: "job", key: "reconnect_ivl")
            == "ZGEN_MYWORKER_JOB_RECONNECT_IVL")
    }

    @Test func wildcardDaemonAndControl() throws {
        let configuration = try make(set: ["*.job.endpoint=ipc:///tmp/j", "control.endpoint=none"])
        #expect(configuration.overrides["MyServer"]?["job"]?.endpoints == ["ipc:///tmp/j"])
        #expect(configuration.overrides["MyWorker"]?["job"]?.endpoints == ["ipc:///tmp/j"])
        #expect(configuration.control.endpoint == nil)
        // $RUNTIME_DIRECTORY's, else $XDG_RUNTIME_DIR's, else a private directory under $TMPDIR.
        let uid = getuid()
        #expect(ControlSettings.defaultEndpoint(app: "my_zmq", environment: ["RUNTIME_DIRECTORY": "/run/my:/run/other", "XDG_RUNTIME_DIR": "/run/user/1"])
            == "ipc:///run/my/my_zmq-control")
        #expect(ControlSettings.defaultEndpoint(app: "my_zmq", environment: ["XDG_RUNTIME_DIR": "/run/user/1/"]) == "ipc:///run/user/1/my_zmq-control")
        #expect(ControlSettings.defaultEndpoint(app: "my_zmq", environment: ["TMPDIR": "/var/tmp/"]) == "ipc:///var/tmp/my_zmq-\(uid)/control")
        #expect(ControlSettings.defaultEndpoint(app: "my_zmq", environment: [:]) == "ipc:///tmp/my_zmq-\(uid)/control")
    }

    @Test func badOverridesAreConfigurationErrors() {
        func message(_ set: [String] = [], _ environment: [String: String] = [:]) -> String? {
            do {
                _ = try make(environment: environment, set: set)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(message(["MyWorker.job.endpoint=tcp://localhost:99999"])
            == "--set MyWorker.job.endpoint=tcp://localhost:99999: error: bad endpoint 'tcp://localhost:99999': the port must be 1-65535 or *")
        #expect(message(["MyWorker.job.endpoint=localhost:9090"])?.contains("expected <transport>://<address>") == true)
        #expect(message(["Nobody.job.endpoint=ipc:///x"])?.contains("no daemon 'Nobody'") == true)
        #expect(message(["MyWorker.nothing.endpoint=ipc:///x"])?.contains("MyWorker has no channel 'nothing'") == true)
        #expect(message(["MyWorker.job.colour=red"])?.contains("unknown channel key 'colour'") == true)
        #expect(message(["MyWorker.job.hwm=lots"])?.contains("hwm: expected an integer, not 'lots'") == true)
        #expect(message([], ["ZGEN_MYWORKER_JOB_BIND": "maybe"])
            == "environment variable ZGEN_MYWORKER_JOB_BIND: error: bind: expected true or false, not 'maybe'")
    }

    /// Run-time overrides are held to the schema's ranges (ZGenVocabulary's ChannelLimits and
    /// ChannelOption kinds), so a value zgen would refuse in a schema cannot come in at run time.
    @Test func overridesOutOfRangeAreConfigurationErrors() throws {
        func message(_ set: String) -> String? {
            do {
                _ = try make(set: [set])
                return nil
            } catch {
                return error.description
            }
        }
        #expect(message("MyWorker.job.hwm=-1") == "--set MyWorker.job.hwm=-1: error: hwm: -1 is out of range (0...2147483647)")
        #expect(message("MyWorker.job.linger=-2")?.contains("linger: -2 is out of range (-1...2147483647)") == true)
        #expect(message("MyWorker.job.heartbeat_ttl=700000")?.contains("heartbeat_ttl: 700000 is out of range (0...655350)") == true)
        #expect(message("MyWorker.job.reconnect_ivl=-1") == nil)
        let configuration = try make(set: ["MyWorker.job.heartbeat_ttl=655350", "MyWorker.job.linger=-1"])
        #expect(configuration.overrides["MyWorker"]?["job"]?.options.heartbeatTtl == 655_350)
        #expect(configuration.overrides["MyWorker"]?["job"]?.linger == -1)
    }

    @Test func badINIOverrideNamesFileAndLine() throws {
        let text = seedINI + "\n[run:MyWorker.job]\nendpoint = udp://x:1\n"
        let document = try parse(text)
        do {
            _ = try RuntimeConfiguration(document: document, path: "a.ini", specs: [workerSpec])
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("a.ini:32:12: error: bad endpoint 'udp://x:1': unknown transport 'udp'"))
        }
    }

    @Test func configurationFileProblems() throws {
        let directory = TemporaryDirectory()
        #expect(throws: ConfigurationError.self) { try RuntimeConfiguration.readDocument(path: directory.path + "/missing.ini") }
        do {
            _ = try RuntimeConfiguration.readDocument(path: directory.path)
        } catch {
            #expect(error.description == "\(directory.path): error: configuration file is a directory")
        }
        let bad = directory.path + "/bad.ini"
        try "[loggers]\nkeys = root\n[oops\n".write(toFile: bad, atomically: true, encoding: .utf8)
        do {
            _ = try RuntimeConfiguration.readDocument(path: bad)
        } catch {
            #expect(error.description == "\(bad):3:1: error: section header is missing its closing ']'")
        }
    }

    @Test func titles() {
        #expect(DaemonProgram.title("(my:worker)", replica: 3, of: 4) == "(my:worker:3)")
        #expect(DaemonProgram.title("(my:server)", replica: 1, of: 1) == "(my:server)")
        #expect(DaemonProgram.title("worker", replica: 2, of: 2) == "worker:2")
    }
}

@Suite("Control channel (in process)")
struct ControlChannelTests {
    @Test func broadcastTermReachesEverySubscribedDaemon() async throws {
        let directory = TemporaryDirectory()
        let endpoint = "ipc://\(directory.path)/control"
        let spec = DaemonSpec(
            name: "Quiet", title: "(quiet)", app: "test",
            channels: [ChannelSpec(name: "input", socket: .pull, endpoints: ["inproc://quiet-\(UUID().uuidString)"], bind: true)])
        var handles: [DaemonHandle] = []
        var completions: [Completion] = []
        for _ in 0..<3 {
            let completion = Completion()
            completions.append(completion)
            handles.append(
                try await DaemonThread.start(name: "quiet") {
                    var configuration = DaemonConfiguration()
                    configuration.context = try ZMQContext()
                    let daemon = try Daemon(spec: spec, configuration: configuration)
                    let subscription = try ControlChannel.subscribe(daemon, to: endpoint)
                    return HostedDaemon(hosted: daemon, control: subscription, completion: completion)
                })
        }
        let result = try ControlChannel.broadcast(to: endpoint, expected: 3, timeout: .seconds(10))
        #expect(result == ControlChannel.BroadcastResult(subscribers: 3, expected: 3))
        for handle in handles {
            #expect(handle.waitUntilFinished(timeout: .seconds(10)))
            #expect(handle.error == nil)
        }
        for completion in completions { await completion.wait() }
    }

    @Test func broadcastWithoutSubscribersReportsZero() throws {
        let directory = TemporaryDirectory()
        let result = try ControlChannel.broadcast(to: "ipc://\(directory.path)/none", expected: 1, timeout: .milliseconds(200))
        #expect(result.subscribers == 0)
    }
}

extension ControlChannelTests {
    @Test("junk, oversized and newline-forging commands are ignored, logged escaped and cut at most once a second; TERM still works")
    func floodsOfJunkCommandsAreBounded() async throws {
        let directory = TemporaryDirectory()
        let endpoint = "ipc://\(directory.path)/control"
        let logs = LogCapture()
        let spec = DaemonSpec(
            name: "Guarded", title: "(guarded)", app: "test",
            channels: [ChannelSpec(name: "input", socket: .pull, endpoints: ["inproc://guarded-\(UUID().uuidString)"], bind: true)])
        let completion = Completion()
        let handle = try await DaemonThread.start(name: "guarded") {
            var configuration = DaemonConfiguration()
            configuration.context = try ZMQContext()
            configuration.makeLogger = logs.configurationLogger
            let daemon = try Daemon(spec: spec, configuration: configuration)
            let subscription = try ControlChannel.subscribe(daemon, to: endpoint)
            return HostedDaemon(hosted: daemon, control: subscription, completion: completion)
        }
        // A forger's XPUB on the control endpoint (it may not drop: no high-water mark).
        let forger = try Socket(.xpub, linger: 1000)
        defer { forger.close(linger: 0) }
        try forger.setOption(.sendHWM(0))
        _ = try forger.bind(endpoint)
        #expect(try forger.receive(timeout: .seconds(10)) != nil)  // the daemon's subscription
        for index in 0..<2000 { _ = try forger.send([Array("JUNK\n\(index)".utf8)]) }
        _ = try forger.send([[UInt8](repeating: UInt8(ascii: "A"), count: 3000)])
        _ = try forger.send([Array("TERM".utf8), Array("extra".utf8)])  // a TERM in two parts is not TERM
        _ = try forger.send([Array("TERM".utf8)])
        #expect(handle.waitUntilFinished(timeout: .seconds(10)))
        await completion.wait()
        let ignored = logs.messages.filter { $0.contains("ignores unknown control command") }
        #expect(ignored.count >= 1 && ignored.count <= 12, "\(ignored.count) lines about ignored commands")
        #expect(ignored.first == "Guarded ignores unknown control command 'JUNK\\x0a0'")
        #expect(ignored.allSatisfy { !$0.contains("\n") && $0.count < 200 }, "\(ignored)")
        #expect(logs.messages.contains("Guarded has received TERM on the control channel"))
    }
}

@Suite("Log sinks never block")
struct LogSinkTests {
    @Test("a sink over a pipe nobody reads drops what does not fit, counts it, and says so once the reader catches up")
    func slowReaderLosesLinesButNeverBlocks() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let path = "/proc/self/fd/\(ends[1])"
        let sink = try LogSink(.file(path: path, truncate: false))
        close(ends[1])
        let line = String(repeating: "y", count: 999)
        let clock = ContinuousClock()
        let started = clock.now
        for _ in 0..<3000 { sink.write(line: line) }  // 3 MB: the pipe holds 64 KiB, the queue 1 MiB
        #expect(clock.now - started < .seconds(2), "writing must not wait for the reader")
        #expect(!sink.flush(timeout: .milliseconds(200)), "nobody reads: the flush times out")
        let dropped = sink.droppedLines
        #expect(dropped > 1000 && dropped < 3000, "\(dropped)")
        // The reader reads everything: the writer finishes and reports the loss.
        var output = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = clock.now + .seconds(20)
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        var drained = false
        while clock.now < deadline {
            let count = read(ends[0], &buffer, buffer.count)
            if count > 0 {
                output += buffer[0..<count]
            } else if drained {
                break  // the writer had finished before this read found the pipe empty
            } else {
                drained = sink.flush(timeout: .milliseconds(10))
            }
        }
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        // Each run of dropped lines is marked where it happened (the writer may have made room
        // for a few lines between runs); the marks add up to the count.
        let notes = lines.filter { $0 != line }
        #expect(lines.filter { $0 == line }.count == 3000 - dropped)
        let counted = notes.compactMap { note -> Int? in
            guard note.hasPrefix("("), note.hasSuffix(" log lines dropped: their reader was too slow)") else { return nil }
            return Int(note.dropFirst().prefix { $0 != " " })
        }
        #expect(counted.count == notes.count, "\(notes)")
        #expect(counted.reduce(0, +) == dropped)
        #expect(lines.last.map { $0 != line } == true, "the last lines were dropped, so the log ends with the mark")
    }
}
