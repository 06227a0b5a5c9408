import Foundation
import Testing
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

@Suite("systemd notify protocol (real processes)", .serialized)
struct SystemdNotifyTests {
    let myZmq: URL
    let schemaINI = repositoryRoot.appendingPathComponent("Schemas/my_zmq.ini").path
    init() throws { myZmq = try executable("my-zmq") }

    @Test("READY only once the channels are bound, WATCHDOG from the loop at half WATCHDOG_USEC, STOPPING at SIGTERM")
    func readyWatchdogStopping() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-notify")
        let listener = try NotifyListener(scratch.file("notify"))
        let server = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyServer", "--interval", "100"] + scratch.exampleOverrides,
                                      environment: ["NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000"])
        defer { server.signal(SIGKILL) }
        let ready = listener.next()
        #expect(ready == "READY=1\nSTATUS=MyServer (my:server): channels open, processing messages")
        // Bound by then: the ipc endpoints exist.
        #expect(FileManager.default.fileExists(atPath: scratch.file("job")) && FileManager.default.fileExists(atPath: scratch.file("broadcast")))
        var watchdogs = 0
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(1), let message = listener.next(timeout: 1) {
            #expect(message == "WATCHDOG=1")
            watchdogs += 1
        }
        print("WATCHDOG=1 datagrams in 1 s at WATCHDOG_USEC=200000: \(watchdogs)")
        #expect(watchdogs >= 3, "every 100 ms: \(watchdogs) in 1 s")
        server.signal(SIGTERM)
        var stopping: String?
        while let message = listener.next(timeout: 5) {
            if message != "WATCHDOG=1" {
                stopping = message
                break
            }
        }
        #expect(stopping == "STOPPING=1\nSTATUS=MyServer is terminating")
        #expect(server.waitForExit() == 0, "\(server.lines)")
    }

    @Test("The abstract form (@name) works; WATCHDOG_PID of another process means no watchdog")
    func abstractSocket() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-notify")
        let listener = try NotifyListener("@zgen-notify-\(getpid())")
        let worker = try ChildProcess(myZmq, ["-c", schemaINI, "--daemon", "MyWorker"] + scratch.exampleOverrides,
                                      environment: ["NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"])
        defer { worker.signal(SIGKILL) }
        #expect(listener.next() == "READY=1\nSTATUS=MyWorker (my:worker): channels open, processing messages")
        worker.signal(SIGTERM)
        #expect(listener.next() == "STOPPING=1\nSTATUS=MyWorker is terminating", "no WATCHDOG=1 in between")
        #expect(worker.waitForExit() == 0, "\(worker.lines)")
    }

    @Test("Under the launcher, only the launcher speaks: one READY for the app, its children get no NOTIFY_SOCKET")
    func launcherSpeaksForTheApp() throws {
        let scratch = try ScratchDirectory(prefix: "zgen-notify")
        let listener = try NotifyListener(scratch.file("notify"))
        let example = try ChildProcess(myZmq, ["-c", schemaINI, "--interval", "0.3", "--workers", "2"] + scratch.exampleOverrides,
                                       environment: ["NOTIFY_SOCKET": listener.address])
        defer { example.signal(SIGKILL) }
        #expect(example.waitForExit(timeout: 60) == 0, "\(example.lines)")
        var messages: [String] = []
        while let message = listener.next(timeout: 0.5) { messages.append(message) }
        #expect(messages == ["READY=1\nSTATUS=my_zmq: 3 processes running", "STOPPING=1\nSTATUS=stopping my_zmq"])
    }
}
