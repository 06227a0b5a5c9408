import Logging

/// Keeps repeated log lines of one kind on one channel from flooding the log, on the loop's
/// thread: within each window of ``window`` the first ``burst`` lines of a kind are logged in
/// full; the rest are only counted, and when the window ends one line says how many there were,
/// with the last of them as the example (`MyWorker: 99995 more malformed messages dropped on job
/// in the last 10 s; the last: …`). The counters still count every event.
final class RepeatedLog {
    /// What is repeated (each kind on each channel has a window of its own).
    enum Kind: Hashable {
        case malformed, handlerError, oversized, unhandled, failedRequest
        /// A socket event of one kind (``SocketEvent/kind``: `acceptFailed`, `disconnected`, …).
        case socketEvent(String)

        /// How the summary line names the events.
        var summary: String {
            switch self {
            case .malformed: "malformed messages dropped"
            case .handlerError: "handler errors"
            case .oversized: "oversized messages dropped"
            case .unhandled: "messages without a handler dropped"
            case .failedRequest: "failed requests"
            case .socketEvent(let kind): "\(kind) events"
            }
        }
    }

    /// How long a window lasts.
    static let window = Duration.seconds(10)
    /// How many lines of one kind a window logs in full.
    static let burst = 5

    private struct Key: Hashable {
        var kind: Kind
        var channel: String
    }

    private final class Entry {
        var windowStart: Int64
        var logged = 0
        var suppressed = 0
        var example = ""
        var level = Logger.Level.warning
        var summary: Scheduled?
        init(windowStart: Int64) { self.windowStart = windowStart }
    }

    private let daemon: String
    private unowned let loop: EventLoop
    private var entries: [Key: Entry] = [:]

    init(daemon: String, loop: EventLoop) {
        self.daemon = daemon
        self.loop = loop
    }

    /// Logs `line(detail)` at `level` unless this window has had its ``burst`` of `kind` on
    /// `channel`; then counts it, and keeps `detail` as the example for the window's summary line.
    func log(_ kind: Kind, channel: String, level: Logger.Level, to logger: Logger, detail: @autoclosure () -> String,
             _ line: (String) -> String) {
        let now = loop.clock.now().nanoseconds
        let key = Key(kind: kind, channel: channel)
        let entry: Entry
        if let existing = entries[key] {
            entry = existing
        } else {
            entry = Entry(windowStart: now)
            entries[key] = entry
        }
        if entry.summary == nil, now - entry.windowStart >= Self.window.nanoseconds {
            entry.windowStart = now
            entry.logged = 0
        }
        if entry.logged < Self.burst {
            entry.logged += 1
            logger.log(level: level, "\(line(detail()))")
            return
        }
        entry.suppressed += 1
        entry.example = detail()
        entry.level = level
        if entry.summary == nil {
            let left = Duration.nanoseconds(max(0, entry.windowStart + Self.window.nanoseconds - now))
            entry.summary = loop.scheduleTask(in: left, name: "log summary") { [weak self] in
                guard let self else { return }
                self.summarize(key, entry, to: logger, restartAt: self.loop.clock.now().nanoseconds)
            }
        }
    }

    /// Logs every pending summary now (at shutdown, before the loop closes).
    func flush(to logger: Logger) {
        for (key, entry) in entries where entry.suppressed > 0 {
            entry.summary?.cancel()
            summarize(key, entry, to: logger, restartAt: entry.windowStart)
        }
    }

    private func summarize(_ key: Key, _ entry: Entry, to logger: Logger, restartAt now: Int64) {
        entry.summary = nil
        guard entry.suppressed > 0 else { return }
        let seconds = Self.window.components.seconds
        logger.log(level: entry.level, "\(daemon): \(entry.suppressed) more \(key.kind.summary) on \(key.channel) in the last \(seconds) s; the last: \(entry.example)")
        entry.suppressed = 0
        entry.example = ""
        // A new window begins with the summary, so a steady flood gives burst + 1 lines a window.
        entry.windowStart = now
        entry.logged = 0
    }
}
