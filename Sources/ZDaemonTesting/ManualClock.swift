import Synchronization
import ZDaemon

/// A clock that only moves when told to: timers fire when the test advances it, never because
/// time passed. Give it to a daemon (``DaemonConfiguration/clock``) or an `EventLoop`, advance
/// it, then let the loop run once (`runOnce(wait: false)`).
public final class ManualClock: EventLoopClock {
    private let current: Mutex<Duration>
    /// Creates a clock reading `start`.
    public init(start: Duration = .zero) { current = Mutex(start) }
    /// The time as last set.
    public func now() -> Duration { current.withLock { $0 } }
    /// Moves the clock forward by `amount`.
    public func advance(by amount: Duration) { current.withLock { $0 += amount } }
}
