import Foundation
import Testing
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

/// What the seed's transcript shows, per process title, as multisets: every daemon's lifecycle
/// lines, the server's five messages and EXIT, each broadcast at every worker, each job at
/// exactly one worker.
func checkTranscript(_ lines: [String], workers: Int = 4, sourceLocation: SourceLocation = #_sourceLocation) {
    var byTitle: [String: [String: Int]] = [:]
    for line in lines {
        guard line.hasPrefix("("), let close = line.firstIndex(of: ")") else {
            Issue.record("unexpected output line: \(line)", sourceLocation: sourceLocation)
            continue
        }
        let title = String(line[...close])
        // `%(processName)-13s %(message)s`: the title padded to 13 characters, one space, the message.
        let padded = title.padding(toLength: max(13, title.count), withPad: " ", startingAt: 0) + " "
        #expect(line.hasPrefix(padded), "not in the seed's format: \(line)", sourceLocation: sourceLocation)
        byTitle[title, default: [:]][String(line.dropFirst(padded.count)), default: 0] += 1
    }
    let server = [
        "MyServer has begun processing messages", "Sending job: This is message #1", "Broadcasting: This is message #2",
        "Sending job: This is message #3", "Broadcasting: This is message #4", "Sending job: This is message #5",
        "Broadcasting: EXIT", "MyServer is terminating",
    ]
    #expect(byTitle["(my:server)"] == Dictionary(server.map { ($0, 1) }, uniquingKeysWith: +), sourceLocation: sourceLocation)
    var jobs: [String: Int] = [:]
    for index in 1...workers {
        let title = workers == 1 ? "(my:worker)" : "(my:worker:\(index))"
        var seen = byTitle[title] ?? [:]
        for line in [
            "MyWorker has begun processing messages", "Received broadcast: ['This is message #2']",
            "Received broadcast: ['This is message #4']", "Received broadcast: ['EXIT']", "MyWorker is terminating",
        ] {
            #expect(seen.removeValue(forKey: line) == 1, "\(title) should log '\(line)' once", sourceLocation: sourceLocation)
        }
        for (line, count) in seen {
            #expect(line.hasPrefix("Received job: "), "\(title) logged '\(line)'", sourceLocation: sourceLocation)
            jobs[line, default: 0] += count
        }
    }
    #expect(jobs == [
        "Received job: ['This is message #1']": 1, "Received job: ['This is message #3']": 1,
        "Received job: ['This is message #5']": 1,
    ], sourceLocation: sourceLocation)
    #expect(Set(byTitle.keys).count == workers + 1, "titles: \(byTitle.keys.sorted())", sourceLocation: sourceLocation)
}

@Suite("my-zmq example (real processes)", .serialized)
struct MyZmqExampleTests {
    let myZmq: URL
    init() throws { myZmq = try executable("my-zmq") }

    func runExample(config: String) throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let child = try ChildProcess(myZmq, ["-c", config, "--interval", "0.3"] + scratch.exampleOverrides)
        let status = child.waitForExit(timeout: 60)
        #expect(status == 0, "output:\n\(child.lines.joined(separator: "\n"))")
        checkTranscript(child.lines)
    }

    @Test("Schemas/my_zmq.ini reproduces the seed's transcript")
    func transcriptWithSchemaINI() throws {
        try runExample(config: repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path)
    }

    @Test("The seed's own my_zmq.ini, unchanged, reproduces the transcript")
    func transcriptWithSeedINI() throws {
        let seed = repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/seed/my_zmq.ini").path
        guard FileManager.default.fileExists(atPath: seed) else {
            print("skipped: \(seed) is not present on this machine")
            return
        }
        try runExample(config: seed)
    }

    @Test("SIGTERM mid-stream: every process logs the terminate lines, the launcher exits 0")
    func sigtermMidStream() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(myZmq, ["-c", config, "--interval", "0.5"] + scratch.exampleOverrides)
        #expect(child.waitForLine(containing: "Received job: ['This is message #1']"), "\(child.lines)")
        child.signal(SIGTERM)
        let status = child.waitForExit()
        let lines = child.lines
        #expect(status == 0, "output:\n\(lines.joined(separator: "\n"))")
        #expect(lines.filter { $0.hasSuffix("has received terminate signal") }.count == 5, "\(lines)")
        #expect(lines.filter { $0.hasSuffix("MyWorker is terminating") }.count == 4)
        #expect(lines.filter { $0.hasSuffix("MyServer is terminating") }.count == 1)
        #expect(lines.contains("(my:server)   MyServer has received terminate signal"))
    }

    @Test("The control channel's TERM stops every daemon of the app")
    func controlTerm() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(myZmq, ["-c", config, "--interval", "30"] + scratch.exampleOverrides)
        #expect(child.waitForLine(containing: "MyServer has begun processing messages"), "\(child.lines)")
        let sender = try ChildProcess(myZmq, ["-c", config, "--send-control", "TERM"] + scratch.exampleOverrides)
        #expect(sender.waitForExit() == 0, "\(sender.lines)")
        let status = child.waitForExit()
        let lines = child.lines
        #expect(status == 0, "output:\n\(lines.joined(separator: "\n"))")
        #expect(lines.filter { $0.hasSuffix("has received TERM on the control channel") }.count == 5, "\(lines)")
        #expect(lines.filter { $0.hasSuffix("is terminating") }.count == 5)
    }

    @Test("The launcher reports a killed child and exits with its status")
    func launcherReportsKilledChild() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(myZmq, ["-c", config, "--interval", "30"] + scratch.exampleOverrides)
        #expect(child.waitForLine(containing: "MyServer has begun processing messages"), "\(child.lines)")
        let victim = try #require(childProcess(of: child.pid, named: "(my:worker:2)"))
        kill(victim, SIGKILL)
        #expect(child.waitForLine(containing: "(my:worker:2) MyWorker (pid \(victim)) was killed by signal 9"), "\(child.lines)")
        let status = child.waitForExit()
        #expect(status.map(Int.init) == 137, "output:\n\(child.lines.joined(separator: "\n"))")
        // The launcher stops the others itself once a child has failed.
        #expect(child.lines.filter { $0.hasSuffix("is terminating") }.count == 4)
        #expect(child.lines.contains("(my_zmq)      stopping the other daemons of my_zmq because (my:worker:2) MyWorker failed"))
    }

    @Test("--restart on-failure: a killed child is restarted, then SIGTERM ends everything; the launcher exits 70 (recovered from a failure)")
    func launcherRestartsOnFailure() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(
            myZmq, ["-c", config, "--interval", "30", "--workers", "2", "--restart", "on-failure"] + scratch.exampleOverrides)
        #expect(child.waitForLine(containing: "MyServer has begun processing messages"), "\(child.lines)")
        let victim = try #require(childProcess(of: child.pid, named: "(my:worker:1)"))
        kill(victim, SIGKILL)
        #expect(child.waitForLine(containing: "(my:worker:1) MyWorker restarts in 0.5 s (restart 1 of 5)"), "\(child.lines)")
        #expect(child.waitForLine(containing: "(my:worker:1) MyWorker has begun processing messages", count: 2), "\(child.lines)")
        child.signal(SIGTERM)
        #expect(child.waitForExit() == 70, "output:\n\(child.lines.joined(separator: "\n"))")
        #expect(child.lines.filter { $0.hasSuffix("is terminating") }.count == 3)
    }

    @Test("the stop deadline: a SIGSTOPped worker is killed --stop-timeout after SIGTERM, every child is reaped, the launcher exits 75")
    func stoppedWorkerIsKilledAtTheStopDeadline() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(
            myZmq, ["-c", config, "--interval", "30", "--workers", "2", "--stop-timeout", "2"] + scratch.exampleOverrides)
        defer { child.signal(SIGKILL) }
        #expect(child.waitForLine(containing: "MyServer has begun processing messages"), "\(child.lines)")
        let victim = try #require(childProcess(of: child.pid, named: "(my:worker:2)"))
        let others = [childProcess(of: child.pid, named: "(my:worker:1)"), childProcess(of: child.pid, named: "(my:server)")].compactMap { $0 }
        #expect(others.count == 2)
        kill(victim, SIGSTOP)
        let clock = ContinuousClock()
        let stopping = clock.now
        child.signal(SIGTERM)
        let status = child.waitForExit(timeout: 20)
        let took = clock.now - stopping
        #expect(status == 75, "output:\n\(child.lines.joined(separator: "\n"))")
        #expect(took >= .seconds(2) && took < .seconds(8), "\(took)")
        #expect(child.lines.contains("(my_zmq)      (my:worker:2) MyWorker (pid \(victim)) did not stop within 2 s of the stop: SIGKILL"),
                "\(child.lines)")
        #expect(child.lines.contains { $0.contains("(my:worker:2) MyWorker (pid \(victim)) was killed by signal 9") })
        for pid in [victim] + others { #expect(kill(pid, 0) != 0, "pid \(pid) is left behind") }
    }

    @Test("liveness: a worker stopped with SIGSTOP falls silent, is killed after --liveness-timeout and restarted (on-failure)")
    func silentWorkerIsKilledAndRestarted() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(
            myZmq, ["-c", config, "--interval", "30", "--workers", "2", "--liveness-timeout", "2", "--restart", "on-failure"]
                + scratch.exampleOverrides)
        defer { child.signal(SIGKILL) }
        #expect(child.waitForLine(containing: "MyServer has begun processing messages"), "\(child.lines)")
        let victim = try #require(childProcess(of: child.pid, named: "(my:worker:1)"))
        kill(victim, SIGSTOP)
        #expect(child.waitForLine(containing: "(my:worker:1) MyWorker (pid \(victim)) sent no heartbeat for 2 s (wedged, or stopped): SIGKILL",
                                  timeout: 15), "\(child.lines)")
        #expect(child.waitForLine(containing: "(my:worker:1) MyWorker restarts in 0.5 s (restart 1 of 5)"), "\(child.lines)")
        #expect(child.waitForLine(containing: "(my:worker:1) MyWorker has begun processing messages", count: 2), "\(child.lines)")
        // The other processes kept their heartbeats: none of them was killed.
        #expect(child.lines.filter { $0.contains("sent no heartbeat") }.count == 1, "\(child.lines)")
        child.signal(SIGTERM)
        #expect(child.waitForExit() == 70, "output:\n\(child.lines.joined(separator: "\n"))")
    }

    @Test("--restart on-failure does not retry a bind failure (69): the launcher says why, stops the workers and exits 69")
    func bindFailuresAreNotRetried() throws {
        let (listener, port) = try occupyPort()
        defer { close(listener) }
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(myZmq, ["-c", config, "--workers", "2", "--restart", "on-failure",
                                             "--set", "*.job.endpoint=tcp://127.0.0.1:\(port)"] + scratch.exampleOverrides.replacingJobOverride())
        #expect(child.waitForExit(timeout: 30) == 69, "\(child.lines)")
        #expect(child.lines.contains("(my_zmq)      (my:server) MyServer is not restarted: status 69 (a socket that cannot bind or connect) is not fixed by a restart"),
                "\(child.lines)")
        #expect(!child.lines.contains { $0.contains("restarts in") }, "\(child.lines)")
        #expect(child.lines.filter { $0.hasSuffix("MyWorker is terminating") }.count == 2)
    }

    @Test("-t sets the OS process name (first 15 bytes of /proc/<pid>/comm); SIGTERM ends one daemon with 0")
    func titleInProcComm() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let title = "(my:worker:long-title)"
        let child = try ChildProcess(myZmq, ["-c", config, "--daemon", "MyWorker", "-t", title] + scratch.exampleOverrides)
        #expect(child.waitForLine(containing: "MyWorker has begun processing messages"), "\(child.lines)")
        let comm = try String(contentsOfFile: "/proc/\(child.pid)/comm", encoding: .utf8)
        #expect(comm == String(title.utf8.prefix(15))! + "\n")
        child.signal(SIGTERM)
        #expect(child.waitForExit() == 0)
        #expect(child.lines == [
            "\(title) MyWorker has begun processing messages", "\(title) MyWorker has received terminate signal",
            "\(title) MyWorker is terminating",
        ])
    }

    @Test("SIGHUP reloads the logging sections: a lower level shows what was hidden")
    func sighupReloadsLogging() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let original = try String(contentsOf: repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini"), encoding: .utf8)
        let quiet = original.replacingOccurrences(of: "[logger_root]\nlevel = INFO", with: "[logger_root]\nlevel = WARNING")
        #expect(quiet != original)
        let config = scratch.file("app.ini")
        try quiet.write(toFile: config, atomically: true, encoding: .utf8)
        let child = try ChildProcess(myZmq, ["-c", config, "--daemon", "MyServer", "--interval", "0.4"] + scratch.exampleOverrides)
        // The server's bound ipc endpoint appears once it has opened its channels (signal handlers are installed before).
        #expect(eventually(timeout: .seconds(20)) { FileManager.default.fileExists(atPath: scratch.file("job")) })
        #expect(child.lines.isEmpty, "\(child.lines)")
        try original.write(toFile: config, atomically: true, encoding: .utf8)
        child.signal(SIGHUP)
        #expect(child.waitForLine(containing: "MyServer has reloaded the logging configuration"), "\(child.lines)")
        #expect(child.waitForLine(containing: "Broadcasting: EXIT"), "\(child.lines)")
        #expect(child.waitForExit() == 0)
        let lines = child.lines
        // At WARNING nothing is logged before the reload. (The server may still be opening its
        // second channel when the signal comes, so "has begun processing messages" can follow it.)
        let beforeReload = lines.prefix { !$0.contains("has reloaded the logging configuration") }
        #expect(beforeReload.isEmpty, "logged before the reload: \(lines)")
        #expect(lines.contains("(my:server)   MyServer is terminating"))
    }

    @Test("SIGUSR1 logs a state dump with per-channel counters")
    func sigusr1Dump() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-it")
        let config = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
        let child = try ChildProcess(myZmq, ["-c", config, "--daemon", "MyServer", "--interval", "0.3"] + scratch.exampleOverrides)
        #expect(child.waitForLine(containing: "Sending job: This is message #1"))
        child.signal(SIGUSR1)
        #expect(child.waitForLine(containing: "MyServer channel job PUSH bind ipc://"), "\(child.lines)")
        #expect(child.waitFor { $0.contains { $0.contains("MyServer channel broadcast PUB bind") && $0.contains("received 0") } },
            "\(child.lines)")
        #expect(child.waitForExit() == 0)
    }
}

/// The pid of a child of `parent` whose process name is `name`, if any.
func childProcess(of parent: Int32, named name: String) -> Int32? {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for entry in entries {
        guard let pid = Int32(entry),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { continue }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
        if fields.count > 1, Int32(fields[1]) == parent, comm == String(name.utf8.prefix(15))! + "\n" { return pid }
    }
    return nil
}
