import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The time source of an ``EventLoop``: monotonic time since an arbitrary origin. Injectable so
/// tests advance time by hand (``ManualClock``) instead of sleeping.
public protocol EventLoopClock: Sendable {
    /// The current time, measured from the clock's own origin; never goes backwards.
    func now() -> Duration
}

/// The real monotonic clock (`CLOCK_MONOTONIC`), the default.
public struct SystemClock: EventLoopClock {
    /// Creates the clock.
    public init() {}
    /// Monotonic time since boot.
    public func now() -> Duration { .nanoseconds(monotonicNanoseconds()) }
}

/// A clock that only moves when told to; for timer tests.
public final class ManualClock: EventLoopClock {
    private let current: Mutex<Duration>
    /// Creates a clock reading `start`.
    public init(start: Duration = .zero) { current = Mutex(start) }
    /// The time as last set.
    public func now() -> Duration { current.withLock { $0 } }
    /// Moves the clock forward by `amount`.
    public func advance(by amount: Duration) { current.withLock { $0 += amount } }
}

/// Monotonic nanoseconds (real time, used by the watchdog whatever the loop's clock is).
func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
