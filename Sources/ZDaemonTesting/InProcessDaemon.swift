import ZDaemon

/// A daemon that did not start (or finish) within a test's bound.
public struct DaemonTestError: Error, Sendable, CustomStringConvertible {
    /// What did not happen in time.
    public var description: String
    /// Creates the error.
    public init(_ description: String) { self.description = description }
}

/// Runs a daemon on a thread of its own (``DaemonThread``) and waits, at most `timeout`, until
/// its loop has started; throws ``DaemonTestError`` when it did not, or `make`'s error.
public func startDaemon<D: DaemonHosting>(
    _ name: String = "daemon", timeout: Duration = .seconds(10), _ make: @escaping @Sendable () throws -> D
) throws -> DaemonHandle {
    let handle = try DaemonThread.start(name: name, make)
    guard handle.waitUntilStarted(timeout: timeout) else {
        handle.terminate()
        throw DaemonTestError("daemon \(handle.name) did not start within \(timeout)\(handle.error.map { ": \($0)" } ?? "")")
    }
    return handle
}

extension DaemonHandle {
    /// Terminates the daemon and waits, at most `timeout`, until its run has returned; returns
    /// whether it did.
    @discardableResult
    public func terminateAndWait(timeout: Duration = .seconds(10)) -> Bool {
        terminate()
        return waitUntilFinished(timeout: timeout)
    }
}

/// Runs `body` on the daemon's loop thread with the daemon and returns its result; `nil` when
/// the daemon has closed or the loop did not get to it within `timeout`.
public func onLoop<T: Sendable>(
    _ handle: DaemonHandle, timeout: Duration = .seconds(10), _ body: @escaping @Sendable (Daemon) -> T
) -> T? {
    let result = Box<T?>(nil)
    guard handle.execute({ (daemon: Daemon) in
        let value = body(daemon)
        result.update { $0 = value }
    }) else { return nil }
    _ = eventually(timeout: timeout) { result.get != nil }
    return result.get
}

extension DaemonSpec {
    /// A spec for a test daemon called `name` (title `(test:<name>)`, app `tests`).
    public static func test(_ name: String = "TestDaemon", _ channels: ChannelSpec...) -> DaemonSpec {
        DaemonSpec(name: name, title: "(test:\(name.lowercased()))", app: "tests", channels: channels)
    }
}
