import ZDaemon
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Waits until `condition` holds, checking every 2 ms, for at most `timeout` of waiting; returns
/// whether it held. The condition is what is awaited, not the time: use it where a test must see
/// a daemon on another thread reach a state, never as a sleep.
///
/// The waiting is counted in steps of at most 50 ms, so a stall of the whole machine (a virtual
/// machine paused by its host for seconds, a stopped process) does not use up the timeout in one
/// step and fail a condition the daemon would have reached a moment later.
public func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let longestStep = Duration.milliseconds(50)
    var waited = Duration.zero
    var last = ContinuousClock.now
    while waited < timeout {
        if try condition() { return true }
        usleep(2_000)
        let now = ContinuousClock.now
        waited += min(now - last, longestStep)
        last = now
    }
    return try condition()
}

/// The transports a test can bind on this machine.
public enum TestTransport: String, CaseIterable, Sendable {
    /// `tcp://127.0.0.1:*`: the OS picks the port (read it back from the bound endpoint).
    case tcp
    /// A unique `ipc://` path in the process's temporary directory.
    case ipc
    /// A unique `inproc://` name.
    case inproc
}

/// A fresh endpoint to bind, so tests run in parallel without clashing: an OS-chosen tcp port
/// on loopback, a unique ipc path, or a unique inproc name.
public func bindEndpoint(_ transport: TestTransport) -> String {
    switch transport {
    case .tcp: "tcp://127.0.0.1:*"
    case .ipc: "ipc://\(testTemporaryDirectory)/\(uniqueName()).sock"
    case .inproc: "inproc://test-\(uniqueName())"
    }
}

/// A directory for this test process's ipc files: `/tmp/zdaemon-tests-<pid>`.
public let testTemporaryDirectory: String = {
    let path = "/tmp/zdaemon-tests-\(getpid())"
    mkdir(path, 0o700)
    return path
}()

private let nameCounter = Box(0)

/// A name unique in this process (and, with the pid, across test processes).
func uniqueName() -> String {
    let next = nameCounter.update { value -> Int in
        value += 1
        return value
    }
    return "\(getpid())-\(next)-\(UInt32.random(in: 0...UInt32.max))"
}

extension SocketMonitor {
    /// Waits, at most `timeout`, for the first event matching `predicate`, skipping the others;
    /// `nil` when none came.
    public func firstEvent(timeout: Duration = .seconds(10), _ predicate: (SocketEvent) -> Bool) throws -> SocketEvent? {
        var found: SocketEvent?
        _ = try eventually(timeout: timeout) {
            while let event = try next(dontWait: true) {
                if predicate(event) {
                    found = event
                    return true
                }
            }
            return false
        }
        return found
    }
}
