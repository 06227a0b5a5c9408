import Foundation
import Testing
import ZDaemon
import ZDaemonProcess
import ZDaemonTesting
import ArgumentParser

#if canImport(Glibc)
    import Glibc
#endif

/// A daemon process stops within its deadlines and says when data may have been lost (README
/// "Shutdown", "Exit statuses"). Each scenario runs a daemon hosted by the process layer in a
/// child process (this test binary, isolated), so signals and exit statuses are real.
@Suite("Shutdown deadlines and loss at shutdown", .serialized)
struct ShutdownDeadlineTests {
    static let child = isolatedTestMode == "shutdown-deadline"

    func start(_ scenario: String, in scratch: ScratchDirectory, endpoint: String, _ arguments: [String] = [],
               environment extra: [String: String] = [:]) throws -> ChildProcess {
        let ini = try scratch.write("empty.ini", "")
        return try startIsolatedTest("shutdownScenarioChild", mode: "shutdown-deadline", environment: [
            "ZGEN_TEST_SCENARIO": scenario, "ZGEN_TEST_ENDPOINT": endpoint, "ZGEN_TEST_INI": ini,
            "ZGEN_TEST_ARGUMENTS": arguments.joined(separator: " "),
        ].merging(extra) { $1 })
    }

    @Test("systemd's WATCHDOG=1 comes from the loop: it stops while a handler blocks the loop, and resumes after",
          .disabled(if: isolatedTestMode != nil))
    func watchdogStopsWhileBlocked() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sd")
        let endpoint = scratch.endpoint("in")
        let listener = try NotifyListener(scratch.file("notify"))
        let child = try start("block", in: scratch, endpoint: endpoint,
                              environment: ["NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000"])
        defer { child.signal(SIGKILL) }
        #expect(listener.next()?.hasPrefix("READY=1\n") == true, "\(child.lines)")
        for _ in 0..<3 { #expect(listener.next(timeout: 2) == "WATCHDOG=1") }
        let push = try Socket(.push, linger: 0)
        defer { push.close(linger: 0) }
        try push.connect(endpoint)
        try push.send([Array("m0".utf8)])
        #expect(child.waitForLine(containing: "handling m0"), "\(child.lines)")
        // The handler blocks the loop for 1.5 s: the longest silence between two WATCHDOG=1 spans it.
        var times: [ContinuousClock.Instant] = [.now]
        while !child.lines.contains(where: { $0.contains("handled m0") }) || times.count < 4 {
            guard listener.next(timeout: 5) == "WATCHDOG=1" else { break }
            times.append(.now)
            if times.count > 100 { break }
        }
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        let longest = gaps.max() ?? .zero
        print("the longest silence of the watchdog while the handler blocked 1.5 s: \(longest)")
        #expect(longest > .seconds(1), "\(gaps)")
        #expect(child.lines.contains { $0.contains("handled m0") }, "watchdogs resumed after the handler: \(child.lines)")
        child.signal(SIGTERM)
        #expect(child.waitForExit(timeout: 30) == 0, "\(child.lines)")
    }

    @Test("SIGTERM with 20 slow messages queued: handling stops at --shutdown-timeout, the rest is dropped and logged, exit 75",
          .disabled(if: isolatedTestMode != nil))
    func slowHandlersAreCutAtTheDeadline() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sd")
        let endpoint = scratch.endpoint("in")
        let child = try start("slow", in: scratch, endpoint: endpoint, ["--shutdown-timeout", "1"])
        defer { child.signal(SIGKILL) }
        #expect(child.waitForLine(containing: "has begun processing messages"), "\(child.lines)")
        let push = try Socket(.push, linger: 0)
        defer { push.close(linger: 0) }
        try push.connect(endpoint)
        for index in 0..<20 { try push.send([Array("m\(index)".utf8)]) }
        #expect(child.waitForLine(containing: "handled m0"), "\(child.lines)")
        let clock = ContinuousClock()
        let stopping = clock.now
        child.signal(SIGTERM)
        let status = child.waitForExit(timeout: 30)
        #expect(clock.now - stopping < .seconds(5), "the shutdown took \(clock.now - stopping)")
        let output = child.lines.joined(separator: "\n")
        #expect(status == 0, "\(output)")  // the child test passes when it saw the expected status
        #expect(output.contains("STATUS 75"), "\(output)")
        #expect(output.contains("Slow: the shutdown deadline (1 s) passed before all queued input was handled"), "\(output)")
        let handled = child.lines.filter { $0.contains("handled m") }.count
        let dropped = child.lines.compactMap { line -> Int? in
            guard let range = line.range(of: "Slow: "), line.hasSuffix("queued messages on input dropped unhandled: the shutdown deadline passed") else { return nil }
            return Int(line[range.upperBound...].prefix { $0.isNumber })
        }
        #expect(handled >= 1 && handled <= 6, "\(output)")
        #expect(dropped == [20 - handled], "\(output)")
    }

    @Test("SIGTERM while a handler never returns: the process ends itself after the deadline, linger and 2 s, exit 75",
          .disabled(if: isolatedTestMode != nil))
    func aStuckHandlerIsCutOff() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sd")
        let endpoint = scratch.endpoint("in")
        let child = try start("stuck", in: scratch, endpoint: endpoint, ["--shutdown-timeout", "1"])
        defer { child.signal(SIGKILL) }
        #expect(child.waitForLine(containing: "has begun processing messages"), "\(child.lines)")
        let push = try Socket(.push, linger: 0)
        defer { push.close(linger: 0) }
        try push.connect(endpoint)
        try push.send([Array("stuck".utf8)])
        #expect(child.waitForLine(containing: "handling stuck"), "\(child.lines)")
        let clock = ContinuousClock()
        let stopping = clock.now
        child.signal(SIGTERM)
        let status = child.waitForExit(timeout: 30)
        let took = clock.now - stopping
        #expect(status == 75, "\(child.lines)")
        #expect(took >= .seconds(3) && took < .seconds(10), "\(took)")
        #expect(child.lines.contains { $0.contains("Slow did not finish within 4 s of terminating (a handler or timer is still running): exiting with status 75") },
                "\(child.lines)")
    }

    @Test("a peer that stops reading 100 KB messages: at SIGTERM the linger runs out, 'messages possibly lost' is logged, exit 74",
          .disabled(if: isolatedTestMode != nil))
    func lingerExpiryIsReported() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sd")
        let endpoint = scratch.endpoint("out")
        // The peer connects and reads nothing.
        let pull = try Socket(.pull, linger: 0)
        defer { pull.close(linger: 0) }
        try pull.setOption(.receiveHWM(1))
        try pull.connect(endpoint)
        let child = try start("lossy", in: scratch, endpoint: endpoint)
        defer { child.signal(SIGKILL) }
        #expect(child.waitForLine(containing: "queued 2000"), "\(child.lines)")
        child.signal(SIGTERM)
        #expect(child.waitForExit(timeout: 30) == 0, "\(child.lines)")
        let output = child.lines.joined(separator: "\n")
        #expect(output.contains("STATUS 74"), "\(output)")
        #expect(output.contains("Lossy: messages possibly lost: linger expired on out (its peers had not taken everything sent)"), "\(output)")
    }

    @Test("(in the child process) a daemon process for one shutdown scenario", .enabled(if: Self.child))
    func shutdownScenarioChild() async throws {
        let environment = ProcessInfo.processInfo.environment
        let scenario = try #require(environment["ZGEN_TEST_SCENARIO"])
        let endpoint = try #require(environment["ZGEN_TEST_ENDPOINT"])
        let ini = try #require(environment["ZGEN_TEST_INI"])
        let extra = (environment["ZGEN_TEST_ARGUMENTS"] ?? "").split(separator: " ").map(String.init)
        let program: DaemonProgram
        if scenario == "lossy" {
            let spec = DaemonSpec.test("Lossy", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint], bind: true, hwm: 10))
            program = DaemonProgram(spec) { context in
                let daemon = try Daemon(spec: spec, configuration: context.configuration)
                daemon.onStart {
                    let big = Frame(repeating: 7, count: 100_000)
                    for _ in 0..<2000 { try? daemon.send([big], on: 0) }
                    daemon.logger.info("queued 2000")
                }
                return daemon
            }
        } else {
            let spec = DaemonSpec.test("Slow", ChannelSpec(name: "input", socket: .pull, endpoints: [endpoint], bind: true))
            let stuck = scenario == "stuck"
            let blocking = scenario == "block"
            program = DaemonProgram(spec) { context in
                let daemon = try Daemon(spec: spec, configuration: context.configuration)
                daemon.onReceive(0) { frames in
                    let text = String(decoding: frames[0], as: UTF8.self)
                    daemon.logger.info("handling \(text)")
                    usleep(stuck ? 60_000_000 : blocking ? 1_500_000 : 400_000)
                    daemon.logger.info("handled \(text)")
                }
                return daemon
            }
        }
        let options = try ProcessOptions.parse(["-c", ini, "--set", "control.endpoint=none", "--blocking-log-threshold", "0"] + extra)
        var status: Int32 = 0
        do {
            try await DaemonProcess.run(options, daemons: [program])
        } catch let exit as ExitCode {
            status = exit.rawValue
        }
        FileHandle.standardError.write(Data("STATUS \(status)\n".utf8))
    }
}
