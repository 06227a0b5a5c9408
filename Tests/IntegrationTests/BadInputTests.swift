import Foundation
@testable import MyZmqExample
import Testing
import ZDaemon
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Bad input: one clear line, the right exit status, no hang")
struct BadInputTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    /// Runs my-zmq to its end; returns the status and the output lines.
    func run(_ arguments: [String]) throws -> (Int32?, [String]) {
        let child = try ChildProcess(myZmq, arguments)
        let status = child.waitForExit(timeout: 30)
        return (status, child.lines)
    }

    @Test func missingConfigFile() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let (status, lines) = try run(["-c", scratch.file("nope.ini")])
        #expect(status == 78)
        #expect(lines == ["\(scratch.file("nope.ini")): error: cannot read configuration file: No such file or directory"])
    }

    @Test func directoryAsConfig() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let (status, lines) = try run(["-c", scratch.path])
        #expect(status == 78)
        #expect(lines == ["\(scratch.path): error: configuration file is a directory"])
    }

    @Test func malformedINIWithLine() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        try "[loggers]\nkeys = root\n\nthis line is not ini\n".write(toFile: scratch.file("bad.ini"), atomically: true, encoding: .utf8)
        let (status, lines) = try run(["-c", scratch.file("bad.ini")])
        #expect(status == 78)
        #expect(lines == ["\(scratch.file("bad.ini")):4:1: error: expected 'key = value' or a '[section]', found 'this line is not ini'"])
    }

    @Test func unknownHandlerClass() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let text = try String(contentsOfFile: schemaINI, encoding: .utf8)
            .replacingOccurrences(of: "class = logging.StreamHandler", with: "class = logging.handlers.SysLogHandler")
        try text.write(toFile: scratch.file("app.ini"), atomically: true, encoding: .utf8)
        let (status, lines) = try run(["-c", scratch.file("app.ini")] + scratch.exampleOverrides)
        #expect(status == 78)
        #expect(lines.count == 1)
        #expect(lines.first?.contains("app.ini:") == true)
        #expect(lines.first?.contains(": error: [handler_console] class: unknown handler class 'logging.handlers.SysLogHandler'") == true, "\(lines)")
    }

    @Test func unknownLevel() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let text = try String(contentsOfFile: schemaINI, encoding: .utf8)
            .replacingOccurrences(of: "level = DEBUG", with: "level = LOUD")
        try text.write(toFile: scratch.file("app.ini"), atomically: true, encoding: .utf8)
        let (status, lines) = try run(["-c", scratch.file("app.ini")] + scratch.exampleOverrides)
        #expect(status == 78)
        #expect(lines.count == 1 && lines[0].contains(": error: [logger_eyrie] level: unknown level 'LOUD'"), "\(lines)")
    }

    @Test func badEndpointOverride() throws {
        let (status, lines) = try run(["-c", schemaINI, "--set", "MyWorker.job.endpoint=tcp://localhost:http"])
        #expect(status == 78)
        #expect(lines == [
            "--set MyWorker.job.endpoint=tcp://localhost:http: error: bad endpoint 'tcp://localhost:http': the port must be 1-65535 or *"
        ])
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let child = try ChildProcess(myZmq, ["-c", schemaINI], environment: ["ZGEN_MYSERVER_BROADCAST_ENDPOINT": "nowhere"])
        #expect(child.waitForExit() == 78)
        #expect(child.lines.first?.hasPrefix("environment variable ZGEN_MYSERVER_BROADCAST_ENDPOINT: error: bad endpoint 'nowhere'") == true)
        _ = scratch
    }

    @Test("an out-of-range --set exits 78 with one line before any process starts (the launcher starts no child)",
          arguments: [("MyWorker.job.hwm=-5", "hwm: -5 is out of range (0...2147483647)"),
                      ("MyWorker.job.max_parts=0", "max_parts: 0 is out of range (1...2147483647)"),
                      ("MyServer.job.max_total_size=100", "max_total_size: 100 is out of range (256...2147483647)")])
    func outOfRangeOverride(_ assignment: String, _ problem: String) throws {
        let (status, lines) = try run(["-c", schemaINI, "--set", assignment])
        #expect(status == 78)
        #expect(lines == ["--set \(assignment): error: \(problem)"])
    }

    @Test func occupiedPort() throws {
        // Occupy a port the OS picks, then ask the server to bind it.
        let (listener, port) = try occupyPort()
        defer { close(listener) }
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let (status, lines) = try run(
            ["-c", schemaINI, "--daemon", "MyServer", "--set", "MyServer.job.endpoint=tcp://127.0.0.1:\(port)"]
                + scratch.exampleOverrides.replacingJobOverride())
        #expect(status == 69, "\(lines)")
        #expect(lines == ["my-zmq: error: (my:server) MyServer: bind tcp://127.0.0.1:\(port): Address already in use"])
    }

    @Test("Occupied port under the launcher: the server exits 69, the launcher stops the workers and exits 69")
    func occupiedPortUnderLauncher() throws {
        let (listener, port) = try occupyPort()
        defer { close(listener) }
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let (status, lines) = try run(
            ["-c", schemaINI, "--workers", "2", "--set", "*.job.endpoint=tcp://127.0.0.1:\(port)"]
                + scratch.exampleOverrides.replacingJobOverride())
        #expect(status == 69, "\(lines)")
        #expect(lines.contains("my-zmq: error: (my:server) MyServer: bind tcp://127.0.0.1:\(port): Address already in use"), "\(lines)")
        #expect(lines.contains { $0.hasPrefix("(my_zmq)      (my:server) MyServer (pid ") && $0.hasSuffix(") exited with status 69") })
        #expect(lines.filter { $0.hasSuffix("MyWorker is terminating") }.count == 2)
    }

    @Test func unknownLogHandlerAndDaemon() throws {
        let (status, lines) = try run(["-c", schemaINI, "-l", "cs.nobody"])
        #expect(status == 78)
        #expect(lines == ["\(schemaINI): error: -l/--log-handler 'cs.nobody': no logger with that qualname in [loggers]"])
        let (daemonStatus, daemonLines) = try run(["-c", schemaINI, "--daemon", "MyClient"])
        #expect(daemonStatus == 64)
        #expect(daemonLines == ["my-zmq: error: --daemon MyClient: no such daemon (known: MyWorker, MyServer)"])
    }

    @Test func unknownOption() throws {
        let (status, lines) = try run(["-c", schemaINI, "--frobnicate"])
        #expect(status == 64)
        #expect(lines.first == "Error: Unknown option '--frobnicate'")
    }

    @Test func missingConfigOption() throws {
        let (status, lines) = try run([])
        #expect(status == 64)
        #expect(lines.first == "Error: Missing expected argument '--config <path>'")
    }

    @Test func helpListsEveryOption() throws {
        let (status, lines) = try run(["--help"])
        #expect(status == 0)
        let text = lines.joined(separator: "\n")
        for option in ["-c, --config", "-t, --title", "-l, --log-handler", "--blocking-log-threshold", "--set", "--daemon",
            "--restart", "--send-control", "--instance <name>", "--interval", "--workers"]
        {
            #expect(text.contains(option), "--help lacks \(option)")
        }
    }
}

extension Array where Element == String {
    /// Drops a `--set` whose value is the job override (so a test's own job endpoint stands).
    func replacingJobOverride() -> [String] {
        var result: [String] = []
        var index = 0
        while index < count {
            if self[index] == "--set", index + 1 < count, self[index + 1].hasPrefix("*.job.") {
                index += 2
                continue
            }
            result.append(self[index])
            index += 1
        }
        return result
    }
}

/// A listening TCP socket on 127.0.0.1 and the port the OS gave it.
func occupyPort() throws -> (Int32, Int) {
    let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) }
    }
    guard bound == 0, listen(listener, 1) == 0 else {
        close(listener)
        throw HarnessError("cannot listen on 127.0.0.1")
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
    }
    return (listener, Int(UInt16(bigEndian: address.sin_port)))
}

extension BadInputTests {
    @Test("a configuration file larger than 1 MiB (here /dev/zero) is refused at once with one line: exit 78")
    func endlessConfigFile() throws {
        let (status, lines) = try run(["-c", "/dev/zero"])
        #expect(status == 78)
        #expect(lines == ["/dev/zero: error: configuration file is larger than 1 MiB"])
    }

    @Test("--send-control with an unknown command exits 64 with one line naming the known ones")
    func unknownControlCommand() throws {
        let (status, lines) = try run(["-c", schemaINI, "--send-control", "REBOOT\n", "--expect", "0"])
        #expect(status == 64)
        #expect(lines == ["my-zmq: error: --send-control REBOOT\\x0a: unknown command (known: TERM)"])
    }

    @Test("unknown sections, repeated sections and repeated keys are warned about with file:line, once, and the daemons still run")
    func configurationWarnings() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let base = try String(contentsOfFile: schemaINI, encoding: .utf8)
        let lineCount = base.split(separator: "\n", omittingEmptySubsequences: false).count - 1
        let file = try scratch.write("warn.ini", base + "[app:other]\nmood = calm\nmood = sunny\n[bogus]\nx = 1\n")
        let (status, lines) = try run(["-c", file, "--interval", "0.05"] + scratch.exampleOverrides)
        #expect(status == 0, "\(lines)")
        let warnings = lines.filter { $0.contains(": warning: ") }
        #expect(warnings == [
            "\(file):\(lineCount + 3):1: warning: key 'mood' repeats the one at line \(lineCount + 2) in [app:other]; the last value wins",
            "\(file):\(lineCount + 4):1: warning: unknown section [bogus] (ignored)",
        ], "\(warnings)")
    }
}

/// The control channel belongs to the daemons' user (README "Control channel").
@Suite("Control channel: nobody else's", .serialized)
struct ControlOwnershipTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    @Test("a control directory that belongs to another user is refused before the daemon starts: exit 78, one line",
          .enabled(if: getuid() == 0, "needs root, to give the directory to another uid"))
    func foreignDirectoryIsRefused() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let directory = scratch.file("my_zmq-\(getuid())")
        #expect(mkdir(directory, 0o777) == 0)
        #expect(chown(directory, 65534, 65534) == 0)
        let child = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyWorker", "--set", "*.job.endpoint=\(scratch.endpoint("job"))",
                                             "--set", "*.broadcast.endpoint=\(scratch.endpoint("broadcast"))"],
                                     environment: ["TMPDIR": scratch.path])
        let status = child.waitForExit(timeout: 30)
        #expect(status == 78, "\(child.lines)")
        #expect(child.lines == [
            "my-zmq: error: (my:worker) MyWorker: control endpoint ipc://\(directory)/control: error: the directory \(directory) belongs to uid 65534, not to this uid (0): anyone who can write it could stop the daemons",
        ])
    }

    @Test("a TERM from another uid on the control socket does not stop the daemon; it is logged and the daemon runs on",
          .enabled(if: getuid() == 0 && pyzmqAvailable, "needs root (to run the forger as nobody) and pyzmq"))
    func forgedTermFromAnotherUID() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        // The forger binds as nobody in a world-writable directory of its own ...
        let outside = try ScratchDirectory(prefix: "zgen-forger")
        #expect(chmod(outside.path, 0o777) == 0)
        let script = """
            import os, sys, time, zmq
            os.setgid(65534); os.setuid(65534)  # after importing zmq, which lives in root's home
            ctx = zmq.Context()
            xpub = ctx.socket(zmq.XPUB); xpub.bind("ipc://" + sys.argv[1])
            print("bound", flush=True)
            deadline = time.time() + 20
            while time.time() < deadline:
                if xpub.poll(50): xpub.recv()
                xpub.send(b"TERM")
            """
        let forger = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-u", "-c", script, outside.file("socket")])
        defer { forger.signal(SIGKILL) }
        #expect(forger.waitForLine(containing: "bound"), "\(forger.lines)")
        // ... and its socket is then moved, as root, into the daemons' private directory and given
        // to root, so that only the sender's uid (from libzmq's Peer-Address) can tell.
        let control = scratch.file("control")
        #expect(rename(outside.file("socket"), control) == 0)
        #expect(chown(control, 0, 0) == 0)
        let worker = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyWorker"] + scratch.exampleOverrides)
        #expect(worker.waitForLine(containing: "ignores control command 'TERM' from uid 65534"), "\(worker.lines)")
        #expect(worker.process.isRunning)
        #expect(!worker.lines.contains { $0.contains("has received TERM") })
        worker.signal(SIGTERM)
        #expect(worker.waitForExit(timeout: 30) == 0, "\(worker.lines)")
    }
}

/// Named instances (README "Control channel", "Instances").
@Suite("App instances: each its own control endpoint, one launcher each")
struct InstanceTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    @Test("two named instances: --send-control reaches only its own; a second launcher of one exits 69 before starting anything")
    func namedInstancesAreSeparate() throws {
        let shared = try ScratchDirectory(prefix: "zgen-tmp")  // TMPDIR: where both default control endpoints live
        let (blueChannels, greenChannels) = (try ScratchDirectory(prefix: "zgen-it"), try ScratchDirectory(prefix: "zgen-it"))
        func launch(_ instance: String, _ channels: ScratchDirectory) throws -> ChildProcess {
            let overrides = channels.exampleOverrides
            var arguments = ["-c", schemaINI, "--interval", "5", "--instance", instance]
            var index = 0
            while index < overrides.count {  // every override but the control endpoint's
                if overrides[index] == "--set", overrides[index + 1].hasPrefix("control.") { index += 2; continue }
                arguments.append(overrides[index])
                index += 1
            }
            return try ChildProcess(myZmq, arguments, environment: ["TMPDIR": shared.path])
        }
        func sendTerm(_ instance: String) throws -> (Int32?, [String]) {
            let sender = try ChildProcess(myZmq, ["-c", schemaINI, "--send-control", "TERM", "--instance", instance],
                                          environment: ["TMPDIR": shared.path])
            return (sender.waitForExit(timeout: 20), sender.lines)
        }
        let blue = try launch("blue", blueChannels)
        defer { blue.signal(SIGKILL) }
        let green = try launch("green", greenChannels)
        defer { green.signal(SIGKILL) }
        #expect(blue.waitForLine(containing: "MyServer has begun processing messages"), "\(blue.lines)")
        #expect(green.waitForLine(containing: "MyServer has begun processing messages"), "\(green.lines)")

        let endpoint = "ipc://\(shared.path)/my_zmq-\(getuid())/control.blue"
        let second = try launch("blue", try ScratchDirectory(prefix: "zgen-it"))
        #expect(second.waitForExit(timeout: 20) == 69)
        #expect(second.lines == [
            "my-zmq: error: instance 'blue' of this app is already running (pid \(blue.pid) holds the control endpoint \(endpoint)): "
                + "stop it first (--send-control TERM), or start this one with --instance NAME",
        ])

        let (status, lines) = try sendTerm("blue")
        #expect(status == 0, "\(lines)")
        #expect(blue.waitForExit(timeout: 20) == 0, "\(blue.lines)")
        #expect(blue.lines.filter { $0.contains("has received TERM on the control channel") }.count == 5, "\(blue.lines)")
        // green never heard it, and runs on until its own TERM.
        #expect(green.process.isRunning)
        #expect(!green.lines.contains { $0.contains("has received TERM") }, "\(green.lines)")
        let (greenStatus, greenLines) = try sendTerm("green")
        #expect(greenStatus == 0, "\(greenLines)")
        #expect(green.waitForExit(timeout: 20) == 0, "\(green.lines)")
    }

    @Test("an --instance name that cannot be part of a path is a usage error: exit 64, one line")
    func badInstanceName() throws {
        let child = try ChildProcess(myZmq, ["-c", schemaINI, "--instance", "../etc"])
        #expect(child.waitForExit(timeout: 20) == 64)
        #expect(child.lines.first == "Error: --instance ../etc: an instance name is 1 to 64 letters, digits, '.', '_' or '-', "
            + "and starts with a letter, digit or '_'", "\(child.lines)")
    }
}

/// What a peer can make a daemon hold is bounded (README "Flow control", maxMessageSize).
@Suite("Memory bounded against peers")
struct PeerMemoryTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    /// Resident memory of process `pid`, bytes.
    func resident(_ pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    @Test("a 16 MB subscription is refused: the PUB drops that subscriber, and the server's memory stays under 100 MB")
    func hugeSubscriptionIsRefused() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let server = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyServer", "--socket-events", "--interval", "0.5"]
                                      + scratch.exampleOverrides)
        defer { server.signal(SIGKILL) }
        #expect(server.waitForLine(containing: "has begun processing messages"), "\(server.lines)")
        // A raw ZMTP 3.0 peer (a libzmq SUB would itself keep the 16 MB prefix, and recurse per byte):
        // greeting, READY as a SUB, then one subscription message of 16 MB.
        let script = """
            import socket, struct, sys
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
            s.sendall(b"\\xff" + b"\\x00" * 8 + b"\\x7f" + b"\\x03\\x00" + b"NULL" + b"\\x00" * 16 + b"\\x00" + b"\\x00" * 31)
            greeting = b""
            while len(greeting) < 64:
                chunk = s.recv(64 - len(greeting))
                if not chunk: sys.exit("closed during the greeting")
                greeting += chunk
            body = b"\\x05READY" + b"\\x0bSocket-Type" + struct.pack(">I", 3) + b"SUB"
            s.sendall(b"\\x04" + bytes([len(body)]) + body)
            size = (16 << 20) + 1
            try:
                s.sendall(b"\\x02" + struct.pack(">Q", size) + b"\\x01" + b"s" * (16 << 20))
                print("sent", flush=True)
            except OSError as error:
                print("refused while sending:", error, flush=True)
            """
        let path = String(scratch.endpoint("broadcast").dropFirst("ipc://".count))
        let peer = try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-u", "-c", script, path])
        defer { peer.signal(SIGKILL) }
        // libzmq takes the subscription as one frame over the 4 KiB limit and drops the connection.
        #expect(server.waitForLine(containing: "MyServer: channel broadcast: disconnected"), "\(server.lines)")
        // A broadcast makes the PUB take in what its subscribers sent (without the limit, this is
        // where it grew by half a gigabyte).
        #expect(server.waitForLine(containing: "Broadcasting: This is message #2"), "\(server.lines)")
        let rss = resident(server.pid)
        #expect(rss > 0 && rss < 100 << 20, "the server holds \(rss >> 20) MiB")
        server.signal(SIGTERM)
        #expect(server.waitForExit(timeout: 30) == 0, "\(server.lines)")
    }
}


@Suite("The example's log lines")
struct ExampleLogLineTests {
    @Test("a received text over 200 bytes is cut in the log, with its size")
    func longTextsAreCut() {
        #expect(pythonList(["short"]) == "['short']")
        let long = String(repeating: "x", count: 5000)
        #expect(pythonList([long]) == "['" + String(repeating: "x", count: 200) + "' … (5000 bytes)]")
    }
}

extension BadInputTests {
    @Test("with RLIMIT_NOFILE too low for 24 workers, my-zmq refuses before starting any process: exit 78, one line")
    func lowFileLimit() throws {
        let child = try ChildProcess(URL(fileURLWithPath: "/bin/sh"),
                                     ["-c", "ulimit -n 64 && exec \"$0\" \"$@\"", myZmq.path, "-c", schemaINI, "--workers", "24"])
        let status = child.waitForExit(timeout: 30)
        #expect(status == 78, "\(child.lines)")
        #expect(child.lines == [
            "my-zmq: error: MyServer needs about 90 file descriptors, and RLIMIT_NOFILE allows 64 (raise it, e.g. `ulimit -n 1024` or systemd's LimitNOFILE=)",
        ])
    }
}

extension BadInputTests {
    @Test("a connect host that does not resolve is warned about at start (off the loop); one that resolves is not; the daemon runs")
    func unresolvableHostIsWarnedAbout() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let worker = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyWorker"] + scratch.exampleOverrides + [
            "--set", "MyWorker.job.endpoint=tcp://no-such-host.invalid:9090",
            "--set", "MyWorker.broadcast.endpoint=tcp://localhost:1",
        ])
        #expect(worker.waitForLine(containing: "does not resolve"), "\(worker.lines)")
        let warnings = worker.lines.filter { $0.contains("does not resolve") }
        #expect(warnings.count == 1 && warnings[0].hasPrefix(
            "(my:worker)   MyWorker: channel job: tcp://no-such-host.invalid:9090: host 'no-such-host.invalid' does not resolve ("), "\(warnings)")
        #expect(worker.process.isRunning)
        worker.signal(SIGTERM)
        #expect(worker.waitForExit(timeout: 30) == 0, "\(worker.lines)")
        #expect(!worker.lines.contains { $0.contains("'localhost'") })
    }
}

/// Logging never blocks a daemon (README "Logging").
@Suite("A log reader that stops reading")
struct StalledLogTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    @Test("with its stderr never read, a worker still takes 10,000 jobs (2.5 MB of log) and exits 0 on SIGTERM within 10 s")
    func stalledStderrDoesNotStopTheDaemon() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let push = try Socket(.push, linger: 0)
        defer { push.close(linger: 0) }
        try push.setOption(.sendHWM(100))
        _ = try push.bind(scratch.endpoint("job"))
        let worker = Process()
        worker.executableURL = myZmq
        worker.arguments = ["-c", schemaINI, "--daemon", "MyWorker"] + scratch.exampleOverrides
        let unread = Pipe()  // nobody reads it: it fills after 64 KiB
        worker.standardOutput = unread
        worker.standardError = unread
        try worker.run()
        defer { if worker.isRunning { kill(worker.processIdentifier, SIGKILL) } }
        // Every job is logged (cut to 200 bytes); a worker whose loop blocked on the full pipe
        // would stop taking jobs, and these sends would stall at the high-water marks.
        let text = [UInt8](repeating: UInt8(ascii: "x"), count: 1000)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        var sent = 0
        while sent < 10_000 && clock.now < deadline {
            if try push.send([text], dontWait: true) { sent += 1 } else { usleep(1000) }
        }
        #expect(sent == 10_000, "the worker stopped taking jobs after \(sent)")
        // The last jobs are in the worker's queue once the send queue is empty again.
        #expect(eventually(timeout: .seconds(20)) { (try? push.events().contains(.writable)) == true })
        let stopping = clock.now
        kill(worker.processIdentifier, SIGTERM)
        #expect(eventually(timeout: .seconds(10)) { !worker.isRunning })
        #expect(clock.now - stopping < .seconds(10))
        if !worker.isRunning { #expect(worker.terminationStatus == 0) }
    }
}

/// Per-message log lines are summarised (README "Repeated log lines").
@Suite("Log floods")
struct LogFloodTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    @Test("100,000 malformed jobs from a peer give at most 200 log lines, and each of the 100 valid jobs among them is handled")
    func malformedFloodIsSummarised() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let push = try Socket(.push, linger: 5000)
        defer { push.close(linger: 0) }
        _ = try push.bind(scratch.endpoint("job"))
        let worker = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyWorker"] + scratch.exampleOverrides)
        defer { worker.signal(SIGKILL) }
        #expect(worker.waitForLine(containing: "MyWorker has begun processing messages"), "\(worker.lines)")
        for index in 0..<100_100 {
            try push.send(index % 1001 == 1000 ? [Array("valid \(index / 1001)".utf8)] : [[0xFF, 0xFE]])
        }
        #expect(worker.waitForLine(containing: "Received job: ['valid 99']", timeout: 60), "\(worker.lines.suffix(20))")
        worker.signal(SIGTERM)
        #expect(worker.waitForExit(timeout: 30) == 0)
        let valid = worker.lines.filter { $0.contains("Received job: ['valid ") }
        #expect(valid.count == 100)
        let malformed = worker.lines.filter { $0.contains("malformed") }
        #expect(malformed.count >= 2 && malformed.count <= 200, "\(malformed.count) lines")
        // The summaries account for every malformed job: the full lines plus what they counted.
        let counted = malformed.compactMap { line -> Int? in
            guard let range = line.range(of: "MyWorker: "), line.contains(" more malformed messages dropped on job") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        #expect(malformed.count - counted.count + counted.reduce(0, +) == 100_000, "\(malformed)")
    }
}

@Suite("The default log format")
struct DefaultLogFormatTests {
    @Test("an INI file without logging sections logs with a timestamp and the level; the seed's INI keeps its own format")
    func defaultFormatHasTimeAndLevel() throws {
        let myZmq = try executable("my-zmq")
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let empty = try scratch.write("empty.ini", "")
        let worker = try ChildProcess(myZmq, ["-c", empty, "--daemon", "MyWorker"] + scratch.exampleOverrides)
        defer { worker.signal(SIGKILL) }
        #expect(worker.waitForLine(containing: "MyWorker has begun processing messages"), "\(worker.lines)")
        worker.signal(SIGTERM)
        #expect(worker.waitForExit(timeout: 30) == 0)
        let first = try #require(worker.lines.first)
        let pattern = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO     \(my:worker\)   MyWorker has begun processing messages$/
        #expect(first.wholeMatch(of: pattern) != nil, "\(first)")
        // The seed's INI formats as configured: title and message only.
        let seed = try ChildProcess(myZmq, ["-c", repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path, "--daemon", "MyWorker"]
                                    + scratch.exampleOverrides)
        defer { seed.signal(SIGKILL) }
        #expect(seed.waitForLine(containing: "MyWorker has begun processing messages"), "\(seed.lines)")
        #expect(seed.lines.first == "(my:worker)   MyWorker has begun processing messages")
        seed.signal(SIGTERM)
        #expect(seed.waitForExit(timeout: 30) == 0)
    }
}
