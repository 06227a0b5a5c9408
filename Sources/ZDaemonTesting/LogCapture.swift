import Logging
import Synchronization

/// Collects every log line of the loggers it makes, for assertions on what a daemon logged.
///
/// ```swift
/// let logs = LogCapture()
/// var configuration = DaemonConfiguration()
/// configuration.makeLogger = logs.configurationLogger
/// // … run the daemon …
/// #expect(logs.contains("has begun processing messages"))
/// ```
public final class LogCapture: Sendable {
    /// One captured line.
    public struct Line: Sendable {
        /// The level it was logged at.
        public var level: Logger.Level
        /// The message, interpolated.
        public var message: String
        /// The logger's metadata merged with the line's own.
        public var metadata: Logger.Metadata
        /// The logger's label.
        public var label: String
    }

    private let lines = Mutex<[Line]>([])

    /// Creates an empty capture.
    public init() {}

    /// A logger at level `trace` whose lines land here.
    public func makeLogger(_ label: String = "test") -> Logger {
        Logger(label: label) { label in Handler(label: label, capture: self) }
    }

    /// A factory for ``DaemonConfiguration/makeLogger`` (`ZDaemon`) whose loggers land here.
    public var configurationLogger: @Sendable (String) -> Logger { { [self] in makeLogger($0) } }

    /// Every line so far, in order.
    public var all: [Line] { lines.withLock { $0 } }
    /// The messages of every line so far.
    public var messages: [String] { all.map(\.message) }
    /// Whether some message contains `text`.
    public func contains(_ text: String) -> Bool { messages.contains { $0.contains(text) } }

    func append(_ line: Line) { lines.withLock { $0.append(line) } }

    struct Handler: LogHandler {
        let label: String
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append(Line(level: event.level, message: "\(event.message)",
                                metadata: metadata.merging(event.metadata ?? [:]) { $1 }, label: label))
        }
    }
}
