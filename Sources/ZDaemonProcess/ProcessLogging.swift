import ZDaemon
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Logging
import Synchronization

/// The process-wide logging state behind ``ConfiguredLogHandler``: the current
/// ``LoggingConfiguration`` and the process title, swappable at run time (SIGHUP reloads).
///
/// swift-log bootstraps once per process, so a reload cannot install new handlers; instead every
/// handler reads the current configuration from this lock-protected box on each record.
public final class LoggingState: Sendable {
    private struct Content {
        var configuration: LoggingConfiguration
        var processName: String
        var cache: [String: LoggingConfiguration.Resolution] = [:]
    }

    private let content: Mutex<Content>

    /// Creates a state holding `configuration`, logging as `processName` (`%(processName)s`).
    public init(configuration: LoggingConfiguration, processName: String) {
        content = Mutex(Content(configuration: configuration, processName: processName))
    }

    /// Replaces the configuration; records logged after this call use the new one.
    public func replace(_ configuration: LoggingConfiguration) {
        content.withLock {
            $0.configuration = configuration
            $0.cache = [:]
        }
    }

    /// The process title used as `%(processName)s`.
    public var processName: String {
        get { content.withLock { $0.processName } }
        set { content.withLock { $0.processName = newValue } }
    }

    /// The current configuration.
    public var configuration: LoggingConfiguration { content.withLock { $0.configuration } }

    /// The effective level of the logger `label`.
    public func level(for label: String) -> Logger.Level {
        resolution(for: label).0.level
    }

    private func resolution(for label: String) -> (LoggingConfiguration.Resolution, LoggingConfiguration, String) {
        content.withLock { content in
            if let cached = content.cache[label] { return (cached, content.configuration, content.processName) }
            let resolved = content.configuration.resolve(label)
            content.cache[label] = resolved
            return (resolved, content.configuration, content.processName)
        }
    }

    /// Formats and writes one record of logger `label` through the handlers it reaches.
    public func emit(label: String, event: LogEvent, metadata: Logger.Metadata) {
        let (resolved, configuration, processName) = resolution(for: label)
        guard event.level >= resolved.level else { return }
        let record = LogRecord(
            name: label.isEmpty ? "root" : label, level: event.level, message: event.message.description,
            metadata: metadata, processName: processName, process: Int(getpid()), created: LogFormat.now(),
            file: event.file, function: event.function, line: event.line, thread: LoggingState.threadID())
        for index in resolved.handlers {
            let handler = configuration.handlers[index]
            guard event.level >= handler.level else { continue }
            handler.sink.write(line: handler.format.format(record))
        }
    }

    static func threadID() -> Int {
        #if os(Linux)
            Int(bitPattern: UInt(pthread_self()))
        #else
            Int(getpid())
        #endif
    }
}

/// A swift-log `LogHandler` that logs the way Python's `fileConfig` would: the label is the
/// logger's qualname, the level and handlers come from the shared ``LoggingState``.
///
/// Setting `logLevel` on a logger pins it for that logger value; otherwise the level follows
/// the configuration, so a SIGHUP reload changes it for loggers that already exist.
public struct ConfiguredLogHandler: LogHandler {
    /// The logger's name.
    public let label: String
    /// Where records go.
    public let state: LoggingState
    private var pinnedLevel: Logger.Level?

    /// The logger's metadata.
    public var metadata: Logger.Metadata = [:]
    /// The logger's metadata provider.
    public var metadataProvider: Logger.MetadataProvider?

    /// Creates a handler for logger `label` over `state`.
    public init(label: String, state: LoggingState, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.state = state
        self.metadataProvider = metadataProvider
    }

    /// The effective level from the configuration, unless set explicitly.
    public var logLevel: Logger.Level {
        get { pinnedLevel ?? state.level(for: label) }
        set { pinnedLevel = newValue }
    }

    /// A metadata value.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Formats and writes the event.
    public func log(event: LogEvent) {
        if let pinnedLevel, event.level < pinnedLevel { return }
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if pinnedLevel != nil {
            // Pinned loggers bypass the configured threshold but still honour handler levels.
            state.emit(label: label, event: event, metadata: merged, ignoringLoggerLevel: true)
        } else {
            state.emit(label: label, event: event, metadata: merged)
        }
    }
}

extension LoggingState {
    func emit(label: String, event: LogEvent, metadata: Logger.Metadata, ignoringLoggerLevel: Bool) {
        guard ignoringLoggerLevel else { return emit(label: label, event: event, metadata: metadata) }
        let configuration = self.configuration
        let resolved = configuration.resolve(label)
        let record = LogRecord(
            name: label.isEmpty ? "root" : label, level: event.level, message: event.message.description,
            metadata: metadata, processName: processName, process: Int(getpid()), created: LogFormat.now(),
            file: event.file, function: event.function, line: event.line, thread: LoggingState.threadID())
        for index in resolved.handlers where event.level >= configuration.handlers[index].level {
            configuration.handlers[index].sink.write(line: configuration.handlers[index].format.format(record))
        }
    }
}

/// The process's logging: bootstraps swift-log once with ``ConfiguredLogHandler`` over one
/// shared ``LoggingState``, and swaps the configuration on reload.
public enum ProcessLogging {
    private static let installed = Mutex<LoggingState?>(nil)

    /// Installs `configuration` for this process, logging as `processName`. The first call
    /// bootstraps swift-log; later calls replace the configuration and title in place.
    @discardableResult
    public static func install(_ configuration: LoggingConfiguration, processName: String) -> LoggingState {
        installed.withLock { current in
            if let state = current {
                state.replace(configuration)
                state.processName = processName
                return state
            }
            let state = LoggingState(configuration: configuration, processName: processName)
            LoggingSystem.bootstrap { label in ConfiguredLogHandler(label: label, state: state) }
            current = state
            return state
        }
    }

    /// The installed state, if ``install(_:processName:)`` has run.
    public static var state: LoggingState? { installed.withLock { $0 } }

    /// Waits, at most `timeout` in all, until every configured sink has written what it queued
    /// (``LogSink/flush(timeout:)``); the process layer calls it before the process exits.
    public static func flush(timeout: Duration = .seconds(1)) {
        guard let state else { return }
        let deadline = ContinuousClock.now + timeout
        for handler in state.configuration.handlers {
            handler.sink.flush(timeout: max(.zero, deadline - ContinuousClock.now))
        }
    }
}
