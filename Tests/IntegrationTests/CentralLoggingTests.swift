import Foundation
import Testing
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

/// One line zlogd wrote with Schemas/Config/zlogd.ini's format
/// (`%(asctime)s %(hostname)s %(processName)-13s %(levelname)-7s %(message)s`).
struct CollectedLine: Equatable {
    var hostname: String
    var title: String
    var level: String
    var message: String

    init?(_ line: String) {
        // `<date> <time> <hostname> (<title>) <LEVEL> <message>`
        let words = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard words.count == 4, let close = words[3].firstIndex(of: ")"), words[3].hasPrefix("(") else { return nil }
        hostname = String(words[2])
        title = String(words[3][...close])
        let rest = words[3][words[3].index(after: close)...].drop { $0 == " " }
        guard let space = rest.firstIndex(of: " ") else { return nil }
        level = String(rest[..<space])
        message = String(rest[space...].drop { $0 == " " })
    }

    /// The line in the seed's format, `%(processName)-13s %(message)s`.
    var seedLine: String { title.padding(toLength: max(13, title.count), withPad: " ", startingAt: 0) + " " + message }

    /// For a drop note, how many records it says were dropped.
    var droppedCount: Int? {
        guard message.contains("log records were dropped") || message.contains("log record was dropped") else { return nil }
        return Int(message.prefix { $0.isNumber })
    }
}

/// Lines per process title, in order.
func byTitle(_ lines: [String]) -> [String: [String]] {
    var result: [String: [String]] = [:]
    for line in lines {
        guard let close = line.firstIndex(of: ")") else { continue }
        result[String(line[...close]), default: []].append(line)
    }
    return result
}

@Suite("Centralized logging (real processes)", .serialized)
struct CentralLoggingTests {
    let myZmq: URL
    let zlogd: URL
    let centralINI = repositoryRoot.appendingPathComponent("Schemas/Config/my_zmq_central.ini").path
    let collectorINI = repositoryRoot.appendingPathComponent("Schemas/Config/zlogd.ini").path

    init() throws {
        myZmq = try executable("my-zmq")
        zlogd = try executable("zlogd")
    }

    /// Starts zlogd with the bundled configuration, bound to an ipc endpoint in `scratch`.
    func startCollector(_ scratch: ScratchDirectory, _ extra: [String] = []) throws -> (ChildProcess, String) {
        let endpoint = scratch.endpoint("logs")
        let collector = try ChildProcess(zlogd, [
            "-c", collectorINI, "--report-interval", "0.5",
            "--set", "LogCollector.records.endpoint=\(endpoint)",
            "--set", "control.endpoint=\(scratch.endpoint("zlogd-control"))",
        ] + extra)
        #expect(collector.waitForLine(containing: "LogCollector has begun processing messages"), "\(collector.lines)")
        return (collector, endpoint)
    }

    /// What zlogd wrote from other processes than itself.
    func shipped(_ lines: [String]) -> [CollectedLine] {
        lines.compactMap(CollectedLine.init).filter { $0.title != "(zlogd)" }
    }

    /// A copy of my_zmq_central.ini whose console lines start with `%(created).3f`, and the
    /// ZMQHandler's extra `keys` (e.g. `queue = 2`).
    func timedINI(_ scratch: ScratchDirectory, _ keys: String = "") throws -> String {
        var text = try String(contentsOfFile: centralINI, encoding: .utf8)
        text = text.replacingOccurrences(of: "format = %(processName)-13s %(message)s", with: "format = %(created).3f %(processName)-13s %(message)s")
        text = text.replacingOccurrences(of: "level = NOTSET\n\n[formatter_generic]", with: "level = NOTSET\n\(keys)\n\n[formatter_generic]")
        return try scratch.write("central.ini", text)
    }

    /// The console lines of a timed run, as (time, seed-format line).
    func timedLines(_ lines: [String]) -> [(Double, String)] {
        lines.compactMap { line in
            guard let space = line.firstIndex(of: " "), let time = Double(line[..<space]),
                  line[line.index(after: space)...].hasPrefix("(") else { return nil }
            return (time, String(line[line.index(after: space)...]))
        }
    }

    /// The gaps between the server's five messages, in seconds.
    func serverGaps(_ lines: [(Double, String)]) -> [Double] {
        let times = lines.filter { $0.1.hasPrefix("(my:server)") && $0.1.contains("This is message #") }.map(\.0)
        return zip(times.dropFirst(), times).map { $0 - $1 }
    }

    @Test("The seed's example through zlogd: every transcript line, once, in each process's order, with its title")
    func transcriptThroughCollector() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let (collector, endpoint) = try startCollector(scratch)
        defer { collector.signal(SIGKILL) }
        let example = try ChildProcess(myZmq, ["-c", centralINI, "--interval", "0.3", "--set", "log.central.endpoint=\(endpoint)"]
            + scratch.exampleOverrides)
        #expect(example.waitForExit(timeout: 60) == 0, "\(example.lines)")
        checkTranscript(example.lines)
        #expect(collector.waitFor { lines in shipped(lines).count >= example.lines.count }, "\(collector.lines)")
        // Its own lines stay local: the report says it received exactly the example's records.
        #expect(collector.waitForLine(containing: "since the start \(example.lines.count) records, 0 malformed"), "\(collector.lines)")
        collector.signal(SIGINT)
        #expect(collector.waitForExit() == 0)
        let lines = shipped(collector.lines)
        checkTranscript(lines.map(\.seedLine))
        #expect(byTitle(lines.map(\.seedLine)) == byTitle(example.lines), "each process's lines in its own order")
        #expect(lines.allSatisfy { $0.level == "INFO" && !$0.hostname.isEmpty })
    }

    @Test("Collector down, then back late: the server's cadence holds, held records arrive, drops are counted and reported")
    func collectorDownThenBack() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let endpoint = scratch.endpoint("logs")
        // 1. No collector at all: the example runs as usual and says what it could not deliver.
        let alone = try ChildProcess(myZmq, ["-c", try timedINI(scratch), "--interval", "0.3", "--set", "log.central.endpoint=\(endpoint)"]
            + scratch.exampleOverrides)
        #expect(alone.waitForExit(timeout: 60) == 0, "\(alone.lines)")
        let aloneLines = timedLines(alone.lines)
        checkTranscript(aloneLines.map(\.1))
        let gaps = serverGaps(aloneLines)
        print("server gaps with the collector down (interval 0.3 s): \(gaps.map { String(format: "%.3f", $0) })")
        #expect(gaps.count == 4 && gaps.allSatisfy { $0 < 0.3 + 0.5 }, "\(gaps)")
        let undelivered = alone.lines.filter { $0.contains("log records not delivered") && $0.contains("(no collector was subscribed)") }
        #expect(undelivered.count == 5, "one line per process: \(alone.lines)")
        let counts = undelivered.compactMap { line in Int(line.split(separator: " ")[3]) }
        #expect(counts.reduce(0, +) == aloneLines.count, "every line was held, none sent: \(undelivered)")

        // 2. The collector comes up while the server is half-way, with a queue of 2 records.
        let example = try ChildProcess(myZmq, [
            "-c", try timedINI(scratch, "queue = 2\nreconnect_ivl = 10\nlinger = 3000"), "--interval", "1.5",
            "--set", "log.central.endpoint=\(endpoint)",
        ] + scratch.exampleOverrides)
        #expect(example.waitForLine(containing: "Broadcasting: This is message #4"), "\(example.lines)")
        let (collector, _) = try startCollector(scratch)
        defer { collector.signal(SIGKILL) }
        #expect(example.waitForExit(timeout: 60) == 0, "\(example.lines)")
        let console = timedLines(example.lines)
        checkTranscript(console.map(\.1))
        let lateGaps = serverGaps(console)
        print("server gaps with the collector late (interval 1.5 s): \(lateGaps.map { String(format: "%.3f", $0) })")
        #expect(lateGaps.count == 4 && lateGaps.allSatisfy { $0 < 1.5 + 0.5 }, "\(lateGaps)")
        #expect(!example.lines.contains { $0.contains("not delivered") }, "\(example.lines)")
        let local = byTitle(console.map(\.1))
        // Everything each process logged arrives, or is counted in a drop note (at the latest
        // when the process exits and its publisher closes).
        func accounted(_ lines: [String]) -> Bool {
            local.allSatisfy { title, logged in
                let received = shipped(lines).filter { $0.title == title }
                return received.filter { $0.droppedCount == nil }.count + received.compactMap(\.droppedCount).reduce(0, +) == logged.count
            }
        }
        #expect(collector.waitFor(accounted), "\(collector.lines)")
        collector.signal(SIGINT)
        #expect(collector.waitForExit() == 0)

        var notes = 0
        for (title, lines) in local {
            let received = shipped(collector.lines).filter { $0.title == title }
            let dropped = received.compactMap(\.droppedCount).reduce(0, +)
            notes += received.filter { $0.droppedCount != nil }.count
            let delivered = received.filter { $0.droppedCount == nil }.map(\.seedLine)
            #expect(delivered.count + dropped == lines.count, "\(title): \(delivered.count) delivered + \(dropped) dropped of \(lines.count)")
            // What arrived is the process's own lines, in its order (a subsequence).
            var rest = lines[...]
            for line in delivered {
                guard let found = rest.firstIndex(of: line) else {
                    Issue.record("\(title): '\(line)' out of order or not logged")
                    break
                }
                rest = rest[rest.index(after: found)...]
            }
        }
        #expect(notes > 0, "the server logged 5 lines into a queue of 2 before the collector came: \(shipped(collector.lines).map(\.message))")
        #expect(shipped(collector.lines).filter { $0.droppedCount != nil }.allSatisfy { $0.level == "WARNING" })
    }

    @Test("Collector slow (stopped, so it reads nothing): the server's cadence holds, and every record arrives once it reads again")
    func collectorPaused() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let (collector, endpoint) = try startCollector(scratch)
        defer {
            collector.signal(SIGCONT)
            collector.signal(SIGKILL)
        }
        let example = try ChildProcess(myZmq, ["-c", try timedINI(scratch), "--interval", "0.3",
                                               "--set", "log.central.endpoint=\(endpoint)"] + scratch.exampleOverrides)
        // Every daemon is connected (its first line arrived); then the collector stops reading.
        #expect(collector.waitFor { lines in shipped(lines).filter { $0.message.hasSuffix("has begun processing messages") }.count == 5 },
                "\(collector.lines)")
        collector.signal(SIGSTOP)
        #expect(example.waitForExit(timeout: 60) == 0, "\(example.lines)")
        let console = timedLines(example.lines)
        checkTranscript(console.map(\.1))
        let gaps = serverGaps(console)
        print("server gaps with the collector stopped (interval 0.3 s): \(gaps.map { String(format: "%.3f", $0) })")
        #expect(gaps.count == 4 && gaps.allSatisfy { $0 < 0.3 + 0.5 }, "\(gaps)")
        collector.signal(SIGCONT)
        // What each daemon sent waited in its connection (libzmq's pipes, the kernel's buffers).
        #expect(collector.waitFor { lines in shipped(lines).count >= console.count }, "\(collector.lines)")
        collector.signal(SIGINT)
        #expect(collector.waitForExit() == 0)
        let delivered = shipped(collector.lines).map(\.seedLine)
        let undelivered = example.lines.filter { $0.contains("log records not delivered") }
        #expect(undelivered.isEmpty, "\(undelivered)")
        #expect(byTitle(delivered) == byTitle(console.map(\.1)), "each process's lines, once, in order")
    }

    @Test("A pyzmq publisher's records in the documented layout appear; malformed ones are counted and never stop zlogd")
    func pyzmqPublisherAndMalformed() throws {
        guard pyzmqAvailable else {
            #expect(!interopRequired, "CI=true but pyzmq is not installed (python3 -m pip install pyzmq)")
            print("skipped: pyzmq is not installed (python3 -m pip install pyzmq)")
            return
        }
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let (collector, endpoint) = try startCollector(scratch)
        defer { collector.signal(SIGKILL) }
        // An XPUB that connects and waits for zlogd's subscription, as the Swift handler does.
        let script = """
            import json, sys, time, zmq
            ctx = zmq.Context()
            pub = ctx.socket(zmq.XPUB); pub.setsockopt(zmq.XPUB_NODROP, 1); pub.connect(sys.argv[1])
            pub.recv()  # the subscription
            def record(message, **extra):
                body = {"v": 1, "time": time.time(), "level": "WARNING", "label": "billing.api", "message": message,
                        "hostname": "py-host", "pid": 77, "title": "(py:billing)", "app": "billing", **extra}
                return [b"billing.WARNING.billing.api", json.dumps(body).encode()]
            pub.send_multipart(record("python says 1"))
            pub.send_multipart([b"only one frame"])
            pub.send_multipart(record("three frames") + [b"extra"])
            pub.send_multipart([b"t", b"{not json"])
            pub.send_multipart([b"t", json.dumps({"time": 1, "message": "no level"}).encode()])
            pub.send_multipart(record("python says 2", metadata={"order": "42"}))
            print("sent", flush=True)
            time.sleep(5)
            """
        let peer = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-u", "-c", script, endpoint])
        defer { peer.signal(SIGKILL) }
        #expect(peer.waitForLine(containing: "sent"), "\(peer.lines)")
        #expect(collector.waitFor { lines in shipped(lines).contains { $0.message == "python says 2" } }, "\(collector.lines)")
        #expect(collector.waitForLine(containing: "since the start 2 records, 4 malformed"), "\(collector.lines)")
        let lines = shipped(collector.lines)
        #expect(lines.map(\.message) == ["python says 1", "python says 2"])
        #expect(lines.allSatisfy { $0.title == "(py:billing)" && $0.hostname == "py-host" && $0.level == "WARNING" })
        let warnings = collector.lines.filter { $0.contains("dropped malformed message on records") }
        #expect(warnings.contains { $0.contains("'level' is missing") } || warnings.contains { $0.contains("more malformed messages") },
                "\(collector.lines)")
        collector.signal(SIGINT)
        #expect(collector.waitForExit() == 0)
    }

    @Test("With CURVE and an allow-list, zlogd receives only from allowed daemons")
    func curveAllowList() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-central")
        let zkeys = try executable("zkeys")
        let keys = try scratch.directory("keys")
        let allowed = try scratch.directory("allowed")
        for name in ["zlogd", "server", "stranger"] {
            let made = try runTool(zkeys, ["new", name, "--directory", keys])
            #expect(made.status == 0, "\(made.output)")
        }
        try FileManager.default.copyItem(atPath: "\(keys)/server.key", toPath: "\(allowed)/server.key")
        let (collector, endpoint) = try startCollector(scratch, [
            "--set", "LogCollector.records.security=curve",
            "--set", "LogCollector.records.curve_secret_key_file=\(keys)/zlogd.key_secret",
            "--set", "LogCollector.records.curve_allow_dir=\(allowed)",
        ])
        defer { collector.signal(SIGKILL) }
        #expect(collector.lines.contains { $0.contains("CURVE server, allowing 1 client key") }, "\(collector.lines)")
        func example(_ key: String) throws -> ChildProcess {
            try ChildProcess(myZmq, [
                "-c", centralINI, "--workers", "1", "--interval", "0.1",
                "--set", "log.central.endpoint=\(endpoint)",
                "--set", "log.central.curve_secret_key_file=\(keys)/\(key).key_secret",
                "--set", "log.central.curve_server_public_key_file=\(keys)/zlogd.key",
                "--set", "log.central.linger=300",
            ] + scratch.exampleOverrides)
        }
        let stranger = try example("stranger")
        #expect(stranger.waitForExit(timeout: 30) == 0, "\(stranger.lines)")
        #expect(stranger.lines.contains { $0.contains("log records not delivered") }, "\(stranger.lines)")
        let friend = try example("server")
        #expect(friend.waitForExit(timeout: 30) == 0, "\(friend.lines)")
        #expect(collector.waitFor { lines in shipped(lines).count >= friend.lines.count }, "\(collector.lines)")
        collector.signal(SIGINT)
        #expect(collector.waitForExit() == 0)
        let lines = shipped(collector.lines)
        #expect(lines.filter { $0.message == "MyServer has begun processing messages" }.count == 1, "only the allowed example's: \(lines.map(\.message))")
        #expect(byTitle(lines.map(\.seedLine)) == byTitle(friend.lines))
        #expect(collector.lines.contains { $0.contains("public key not on the allow-list") }, "the stranger was refused: \(collector.lines)")
    }
}
