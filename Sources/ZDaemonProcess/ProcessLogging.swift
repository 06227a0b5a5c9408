import ZDaemon
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Foundation
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
        var app: String
        var cache: [String: LoggingConfiguration.Resolution] = [:]
    }

    private let content: Mutex<Content>

    /// Creates a state holding `configuration`, logging as `processName` (`%(processName)s`) of
    /// `app` (`%(app)s`, and the `app` of shipped records).
    public init(configuration: LoggingConfiguration, processName: String, app: String = "") {
        content = Mutex(Content(configuration: configuration, processName: processName, app: app))
    }

    /// The app named in records (`%(app)s`).
    public var app: String {
        get { content.withLock { $0.app } }
        set { content.withLock { $0.app = newValue } }
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

    private func resolution(for label: String) -> (LoggingConfiguration.Resolution, LoggingConfiguration, String, String) {
        content.withLock { content in
            if let cached = content.cache[label] { return (cached, content.configuration, content.processName, content.app) }
            let resolved = content.configuration.resolve(label)
            // Bounded: a collector resolves labels its senders chose.
            if content.cache.count < 4096 { content.cache[label] = resolved }
            return (resolved, content.configuration, content.processName, content.app)
        }
    }

    /// Formats and writes one record of logger `label` through the handlers it reaches.
    public func emit(label: String, event: LogEvent, metadata: Logger.Metadata) {
        emit(label: label, event: event, metadata: metadata, ignoringLoggerLevel: false)
    }

    /// Writes `record` through the handlers its logger (`record.name`) reaches, as if it had been
    /// logged here (the collector writes received records this way): the logger's level and
    /// each handler's level apply.
    public func emit(_ record: LogRecord) {
        let (resolved, configuration, _, _) = resolution(for: record.name)
        guard record.level >= resolved.level else { return }
        for index in resolved.handlers where record.level >= configuration.handlers[index].level {
            configuration.handlers[index].write(record)
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
    /// Writes the event through the handlers of logger `label`; a pinned logger level
    /// (`ignoringLoggerLevel`) replaces the configured one, handler levels still apply.
    func emit(label: String, event: LogEvent, metadata: Logger.Metadata, ignoringLoggerLevel: Bool) {
        let (resolved, configuration, processName, app) = resolution(for: label)
        guard ignoringLoggerLevel || event.level >= resolved.level else { return }
        var metadata = metadata
        if let error = event.error { metadata["error"] = .string("\(error)") }
        let record = LogRecord(
            name: label.isEmpty ? "root" : label, level: event.level, message: event.message.description,
            metadata: metadata, processName: processName, process: Int(getpid()), created: LogFormat.now(),
            file: event.file, function: event.function, line: event.line, thread: LoggingState.threadID(),
            source: event.source, app: app)
        for index in resolved.handlers where event.level >= configuration.handlers[index].level {
            configuration.handlers[index].write(record)
        }
    }
}

/// The process's logging: bootstraps swift-log once with ``ConfiguredLogHandler`` over one
/// shared ``LoggingState``, and swaps the configuration on reload.
public enum ProcessLogging {
    private static let installed = Mutex<LoggingState?>(nil)
    private static let shipping = Mutex(true)

    /// Whether ZMQHandler handlers are used (default true). A log collector sets it to false
    /// before installing, so that it never ships its own logs, to itself or anywhere: its
    /// configuration's ZMQHandlers are then left out (said once on stderr).
    public static var shipsLogs: Bool {
        get { shipping.withLock { $0 } }
        set { shipping.withLock { $0 = newValue } }
    }

    /// Installs `configuration` for this process, logging as `processName` of `app`. The first
    /// call bootstraps swift-log; later calls replace the configuration and title in place (an
    /// empty `app` keeps the one before). A ZMQHandler whose settings did not change keeps its
    /// publisher (and its connection); the publishers of handlers that went away are closed.
    @discardableResult
    public static func install(_ configuration: LoggingConfiguration, processName: String, app: String = "") -> LoggingState {
        var configuration = configuration
        if !shipsLogs {
            let left = configuration.handlers.filter { $0.publisher != nil }.map(\.key)
            if !left.isEmpty {
                configuration = configuration.withoutPublishers()
                if installed.withLock({ $0 == nil }) {
                    LogPublisher.stderrLine("log handler\(left.count == 1 ? "" : "s") \(left.map { "'\($0)'" }.joined(separator: ", ")) (ZMQHandler) left out: this program does not ship its own logs")
                }
            }
        }
        let (state, retired) = installed.withLock { current -> (LoggingState, [LogPublisher]) in
            if let state = current {
                let retired: [LogPublisher]
                (configuration, retired) = configuration.reusingPublishers(of: state.configuration)
                state.replace(configuration)
                state.processName = processName
                if !app.isEmpty { state.app = app }
                return (state, retired)
            }
            let state = LoggingState(configuration: configuration, processName: processName, app: app)
            LoggingSystem.bootstrap { label in ConfiguredLogHandler(label: label, state: state) }
            current = state
            return (state, [])
        }
        for publisher in retired {
            let thread = Thread { publisher.close(timeout: publisher.settings.linger) }
            thread.name = "log publisher close"
            thread.start()
        }
        return state
    }

    /// The installed state, if ``install(_:processName:app:)`` has run.
    public static var state: LoggingState? { installed.withLock { $0 } }

    /// Waits, at most `timeout` in all, until every configured handler has written what it
    /// queued (``LogSink/flush(timeout:)``, ``LogPublisher/flush(timeout:)``); the process layer
    /// calls it before reporting an error on stderr.
    public static func flush(timeout: Duration = .seconds(1)) {
        guard let state else { return }
        let deadline = ContinuousClock.now + timeout
        // Lines first: a publisher with no collector would use up the whole timeout.
        for handler in state.configuration.handlers.sorted(by: { $0.sink != nil && $1.sink == nil }) {
            handler.flush(timeout: max(.zero, deadline - ContinuousClock.now))
        }
    }

    /// The last call before the process exits: flushes every handler and closes the ZMQHandlers'
    /// publishers, within `timeout` in all (nil: 1 s, or the longest ZMQHandler linger if that is
    /// longer; each publisher also within its own linger), saying on stderr what did not reach
    /// its collector. Records logged afterwards still reach the
    /// line handlers; ZMQHandlers drop and count them.
    public static func finish(timeout: Duration? = nil) {
        guard let state else { return }
        // By default: a second, or the longest ZMQHandler linger when that is longer.
        let longest = state.configuration.handlers.compactMap { $0.publisher?.settings.linger }.max() ?? .zero
        let deadline = ContinuousClock.now + (timeout ?? max(.seconds(1), longest))
        for handler in state.configuration.handlers.sorted(by: { $0.sink != nil && $1.sink == nil }) {
            if let publisher = handler.publisher {
                publisher.close(timeout: max(.zero, deadline - ContinuousClock.now))
            } else {
                handler.flush(timeout: max(.zero, deadline - ContinuousClock.now))
            }
        }
    }
}

extension LoggingConfiguration {
    /// This configuration with the publishers of `old` in place of its own where a ZMQHandler's
    /// name and settings are unchanged (a reload then keeps the connection and what is queued),
    /// and the publishers of `old` it does not keep, which the caller closes.
    public func reusingPublishers(of old: LoggingConfiguration) -> (LoggingConfiguration, retired: [LogPublisher]) {
        var result = self
        var retired = old.handlers.compactMap(\.publisher)
        for index in result.handlers.indices {
            guard let fresh = result.handlers[index].publisher,
                  let kept = retired.firstIndex(where: { $0.name == fresh.name && $0.settings == fresh.settings })
            else { continue }
            result.handlers[index].output = .publisher(retired.remove(at: kept))
        }
        return (result, retired)
    }

    /// This configuration without its ZMQHandlers (loggers keep their other handlers).
    public func withoutPublishers() -> LoggingConfiguration {
        var mapping: [Int: Int] = [:]
        var kept: [Handler] = []
        for (index, handler) in handlers.enumerated() where handler.publisher == nil {
            mapping[index] = kept.count
            kept.append(handler)
        }
        var loggers = self.loggers
        for (name, entry) in loggers {
            loggers[name]?.handlers = entry.handlers.compactMap { mapping[$0] }
        }
        return LoggingConfiguration(handlers: kept, loggers: loggers)
    }
}
