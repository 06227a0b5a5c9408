#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The time source of an ``EventLoop``: monotonic time since an arbitrary origin. Injectable so
/// tests advance time by hand (`ZDaemonTesting`'s `ManualClock`) instead of sleeping.
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

/// Monotonic nanoseconds (real time, used by the watchdog whatever the loop's clock is).
func monotonicNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
