import Foundation
import Testing
import ZDaemon
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

/// The one channel of the daemons below: what they send as they terminate.
private enum FarewellOut: Int, DaemonChannel { case out }

/// A daemon that says `bye` on `endpoint` as it terminates (so a graceful end is visible).
private func farewellDaemon(_ name: String, to endpoint: String, announce: Bool = true) throws -> Daemon {
    let daemon = try Daemon(spec: .test(name, ChannelSpec(name: "out", socket: .push, endpoints: [endpoint])))
    if announce { daemon.onStart { print("READY \(name)") } }
    daemon.onWillTerminate { try daemon.send([Array("bye from \(name)".utf8)], on: FarewellOut.out) }
    return daemon
}

/// Receives one message on `sink` (10 s at most) as text.
private func receiveText(_ sink: Socket) throws -> String? {
    guard try sink.poll(.readable, timeout: .seconds(10)).contains(.readable), let frames = try sink.receive(dontWait: true) else { return nil }
    return String(decoding: frames[0], as: UTF8.self)
}

@Suite("SIGINT and SIGTERM without the process layer")
struct SignalTests {
    static let mode = isolatedTestMode

    /// Runs test `name` of this suite in a child process, signals it with `signal` once it
    /// printed READY, and expects it to pass and exit 0 with each of `daemons` terminating.
    func expectGracefulEnd(_ name: String, mode: String, signal: Int32, terminating daemons: [String]) throws {
        let child = try startIsolatedTest(name, mode: mode)
        #expect(child.waitForLine(containing: "READY"), "\(child.lines.joined(separator: "\n"))")
        child.signal(signal)
        let status = child.waitForExit(timeout: 30)
        let output = child.lines.joined(separator: "\n")
        #expect(status == 0, "\(output)")
        for daemon in daemons { #expect(output.contains("\(daemon) is terminating"), "\(output)") }
        #expect(output.contains("with 1 test") && output.contains("passed"), "\(output)")
    }

    @Test("from async code, SIGTERM cancels TerminationSignals.cancelling: every daemon terminates gracefully and flushes",
          .disabled(if: mode != nil))
    func sigtermInAsyncMode() throws {
        try expectGracefulEnd("asyncModeChild", mode: "signals-async", signal: SIGTERM, terminating: ["SignalAsyncA", "SignalAsyncB"])
    }

    @Test("(in the child process) two daemons in a task group under TerminationSignals.cancelling", .enabled(if: mode == "signals-async"))
    func asyncModeChild() async throws {
        let sink = try Socket(.pull, linger: 0)
        defer { sink.close(linger: 0) }
        let endpoint = try sink.bind(bindEndpoint(.inproc))
        try await TerminationSignals.cancelling {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for name in ["SignalAsyncA", "SignalAsyncB"] {
                    group.addTask { try await DaemonThread.run(name: name) { try farewellDaemon(name, to: endpoint) } }
                }
                try await group.waitForAll()
            }
        }
        let farewells = [try receiveText(sink), try receiveText(sink)].compactMap { $0 }.sorted()
        #expect(farewells == ["bye from SignalAsyncA", "bye from SignalAsyncB"])
    }

    @Test("on a plain thread, SIGINT through TerminationSignals.watch terminates the daemon gracefully",
          .disabled(if: mode != nil))
    func sigintInThreadMode() throws {
        try expectGracefulEnd("threadModeChild", mode: "signals-thread", signal: SIGINT, terminating: ["SignalThread"])
    }

    @Test("(in the child process) a daemon on its thread, terminated by a signal watch", .enabled(if: mode == "signals-thread"))
    func threadModeChild() throws {
        let sink = try Socket(.pull, linger: 0)
        defer { sink.close(linger: 0) }
        let endpoint = try sink.bind(bindEndpoint(.inproc))
        let handle = try DaemonThread.start(name: "signal-thread") { try farewellDaemon("SignalThread", to: endpoint, announce: false) }
        let signals = TerminationSignals.watch { _ in handle.terminate() }
        defer { signals.cancel() }
        #expect(handle.waitUntilStarted(timeout: .seconds(10)))
        print("READY")
        #expect(handle.waitUntilFinished(timeout: .seconds(30)))
        #expect(try receiveText(sink) == "bye from SignalThread")
    }

    @Test("a second signal while shutting down ends the process at once, as the signal's default action does",
          .disabled(if: mode != nil))
    func secondSignalEndsTheProcess() throws {
        let child = try startIsolatedTest("stuckShutdownChild", mode: "signals-stuck")
        #expect(child.waitForLine(containing: "READY"), "\(child.lines.joined(separator: "\n"))")
        child.signal(SIGINT)
        #expect(child.waitForLine(containing: "CANCELLED"), "\(child.lines.joined(separator: "\n"))")
        child.signal(SIGINT)
        #expect(child.waitForExit(timeout: 30) == 128 + SIGINT)
    }

    @Test("(in the child process) a body that ignores cancellation", .enabled(if: mode == "signals-stuck"))
    func stuckShutdownChild() async throws {
        try await TerminationSignals.cancelling {
            print("READY")
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
            print("CANCELLED")
            await withCheckedContinuation { (_: CheckedContinuation<Void, Never>) in }  // a shutdown that never ends
        }
    }

    @Test("a cancelled watch calls its action no more, and the signal's previous disposition is back")
    func cancelledWatchRestoresTheDisposition() throws {
        let previous = signal(SIGUSR2, SIG_IGN)
        defer { signal(SIGUSR2, previous) }
        let calls = Box(0)
        let later = Box(0)
        let watch = TerminationSignals.watch([SIGUSR2]) { _ in calls.update { $0 += 1 } }
        kill(getpid(), SIGUSR2)
        #expect(eventually { calls.get == 1 })
        // A second watch sees the next signal; the cancelled one, which would be called first, is not.
        let second = TerminationSignals.watch([SIGUSR2]) { _ in later.update { $0 += 1 } }
        watch.cancel()
        kill(getpid(), SIGUSR2)
        #expect(eventually { later.get == 1 })
        #expect(calls.get == 1)
        second.cancel()
        var current = sigaction()
        sigaction(SIGUSR2, nil, &current)
        #expect(unsafeBitCast(current.__sigaction_handler.sa_handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self))
    }
}
