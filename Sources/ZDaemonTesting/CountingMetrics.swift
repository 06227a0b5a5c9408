import Metrics
import Synchronization

/// A minimal swift-metrics backend for tests: keeps counter totals by label and dimensions (pass
/// it as `DaemonConfiguration.metricsFactory`, or to a `LogPublisher`); recorders and timers are
/// ignored.
public final class CountingMetrics: MetricsFactory {
    final class CounterBox: CounterHandler {
        let total = Atomic<Int64>(0)
        func increment(by amount: Int64) { total.add(amount, ordering: .relaxed) }
        func reset() { total.store(0, ordering: .relaxed) }
    }
    final class Ignored: RecorderHandler, TimerHandler {
        func record(_ value: Int64) {}
        func record(_ value: Double) {}
        func recordNanoseconds(_ duration: Int64) {}
    }

    private let counters = Mutex<[String: CounterBox]>([:])

    /// Creates an empty backend.
    public init() {}

    static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: " ")
    }

    /// The total of counter `label` with exactly these `dimensions` (0 if never made).
    public func value(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        counters.withLock { $0[Self.key(label, dimensions)]?.total.load(ordering: .relaxed) ?? 0 }
    }

    /// Makes (or finds) the counter of `label` and `dimensions`.
    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        counters.withLock { counters in
            let key = Self.key(label, dimensions)
            if let existing = counters[key] { return existing }
            let box = CounterBox()
            counters[key] = box
            return box
        }
    }
    /// Ignored.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler { Ignored() }
    /// Ignored.
    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler { Ignored() }
    /// Nothing to do.
    public func destroyCounter(_ handler: CounterHandler) {}
    /// Nothing to do.
    public func destroyRecorder(_ handler: RecorderHandler) {}
    /// Nothing to do.
    public func destroyTimer(_ handler: TimerHandler) {}
}
