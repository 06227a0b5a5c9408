import Foundation
import Logging
import Synchronization

/// Watches a loop from its own thread and warns when one handler or timer keeps the loop busy
/// longer than a threshold (the seed's `--blocking-log-threshold`): once when it crosses the
/// threshold, naming it, and once when it ends, with how long it really took (logged by the
/// loop's thread as the callback returns). The loop only stores a timestamp and a label when it
/// starts a callback; this thread compares them with the clock.
final class Watchdog: Sendable {
    private let activity: LoopActivity
    private let threshold: Int64
    private let logger: Logger
    private let name: String
    private let condition = NSCondition()
    private let stopped = Mutex(false)

    init(activity: LoopActivity, threshold: Duration, logger: Logger, name: String) {
        self.activity = activity
        self.threshold = threshold.nanoseconds
        self.logger = logger
        self.name = name
    }

    /// Starts watching; call on the loop's thread before the loop runs.
    func start() {
        guard threshold > 0 else { return }
        let (name, logger) = (self.name, self.logger)
        activity.stallThreshold = threshold
        activity.stallEnded = { label, took in
            logger.warning("\(name) event loop was blocked for \(Self.seconds(took)) s by \(label) (running again)")
        }
        let thread = Thread { [self] in watch() }
        thread.name = "\(name) watchdog"
        thread.start()
    }

    func stop() {
        condition.lock()
        stopped.withLock { $0 = true }
        condition.broadcast()
        condition.unlock()
    }

    private func watch() {
        // Check a few times per threshold, never more often than every 10 ms.
        let interval = max(threshold / 4, 10_000_000)
        var reported: Int64 = 0
        condition.lock()
        defer { condition.unlock() }
        while !stopped.withLock({ $0 }) {
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(interval) / 1e9))
            let since = activity.busySince.load(ordering: .acquiring)
            guard since != 0, since != reported else { continue }
            let elapsed = monotonicNanoseconds() - since
            if elapsed >= threshold {
                reported = since
                let label = activity.text(activity.current.load(ordering: .relaxed))
                logger.warning("\(name) event loop blocked for over \(Self.seconds(threshold)) s by \(label)")
            }
        }
    }

    /// `6.012`: nanoseconds as seconds with three decimals.
    static func seconds(_ nanoseconds: Int64) -> String { String(format: "%.3f", Double(nanoseconds) / 1e9) }
}
