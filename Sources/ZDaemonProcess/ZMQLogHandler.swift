import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A swift-log `LogHandler` that ships every record to a collector through a ``LogPublisher``,
/// for programs that bootstrap swift-log themselves rather than through the process layer's
/// INI (where `class = ZMQHandler` does the same):
///
/// ```swift
/// let publisher = LogPublisher(name: "central", settings: .init(endpoints: ["tcp://logs:9020"]))
/// LoggingSystem.bootstrap { label in
///     MultiplexLogHandler([
///         StreamLogHandler.standardError(label: label),
///         ZMQLogHandler(label: label, publisher: publisher, app: "billing", title: "(billing:api)"),
///     ])
/// }
/// // … and before exiting: publisher.close(timeout: .seconds(1))
/// ```
///
/// Logging never blocks: the record is encoded and queued, and the publisher's thread sends it.
public struct ZMQLogHandler: LogHandler {
    /// The logger's label (the record's `label`).
    public let label: String
    /// Where records go.
    public let publisher: LogPublisher
    /// The record's `app`.
    public var app: String
    /// The record's `title` (the process title).
    public var title: String
    /// The lowest level shipped.
    public var logLevel: Logger.Level
    /// The logger's metadata.
    public var metadata: Logger.Metadata = [:]
    /// The logger's metadata provider.
    public var metadataProvider: Logger.MetadataProvider?

    /// Creates a handler for logger `label`.
    public init(label: String, publisher: LogPublisher, app: String, title: String = ProcessInfo.processInfo.processName,
                logLevel: Logger.Level = .info, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.publisher = publisher
        self.app = app
        self.title = title
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
    }

    /// A metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Encodes and queues the event.
    public func log(event: LogEvent) {
        guard event.level >= logLevel else { return }
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if let error = event.error { merged["error"] = .string("\(error)") }
        publisher.publish(LogRecord(
            name: label, level: event.level, message: event.message.description, metadata: merged, processName: title,
            process: Int(getpid()), created: LogFormat.now(), file: event.file, function: event.function, line: event.line,
            thread: LoggingState.threadID(), source: event.source, app: app))
    }
}
