import ZDaemon
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import INIFormat
import Foundation
import Logging
import Synchronization

/// Where a log handler writes: a file descriptor shared by every record, written one whole
/// line per `write(2)` so lines from several processes on one pipe never interleave.
///
/// Logging never blocks the caller: ``write(line:)`` queues the line, and a writer thread of
/// the sink's own writes it. When the reader is slower than the log (a stalled pipe, a full
/// disk), the queue stops at ``queueLimit`` bytes and further lines are dropped and counted
/// (``droppedLines``); once the writer catches up it writes one line saying how many went.
/// ``flush(timeout:)`` waits, bounded, for the queue to drain (the process layer calls it
/// before exiting).
public final class LogSink: Sendable {
    /// What the sink writes to.
    public enum Target: Sendable, Equatable {
        /// The process's standard error.
        case standardError
        /// The process's standard output.
        case standardOutput
        /// A file, appended to (or truncated first when `truncate`).
        case file(path: String, truncate: Bool)
        /// Nowhere (Python's `NullHandler`).
        case null
    }

    /// The most bytes of lines a sink holds for its writer; more are dropped (1 MiB).
    public static let queueLimit = 1 << 20

    /// What this sink writes to.
    public let target: Target
    private let descriptor: Int32
    private let ownsDescriptor: Bool

    private struct Queue {
        var lines: [[UInt8]] = []
        var head = 0
        var bytes = 0
        var dropped = 0
        var droppedTotal = 0
        var writing = false  // a writer thread runs (or is writing a line it took)
    }

    private let queue = Mutex(Queue())
    private let condition = NSCondition()

    /// Opens the sink; for a file, the error is `strerror`'s text.
    public init(_ target: Target) throws(LogSinkOpenError) {
        self.target = target
        switch target {
        case .standardError:
            descriptor = 2
            ownsDescriptor = false
        case .standardOutput:
            descriptor = 1
            ownsDescriptor = false
        case .null:
            descriptor = -1
            ownsDescriptor = false
        case .file(let path, let truncate):
            let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND)
            let fd = open(path, flags, 0o644)
            guard fd >= 0 else { throw LogSinkOpenError(reason: String(cString: strerror(errno))) }
            descriptor = fd
            ownsDescriptor = true
        }
    }

    deinit {
        if ownsDescriptor { close(descriptor) }
    }

    /// How many lines were dropped because the queue was full, since the sink opened.
    public var droppedLines: Int { queue.withLock { $0.droppedTotal } }

    /// Queues `line` (a newline is added) for the writer thread; never blocks on the reader.
    /// A line that does not fit in the queue is dropped and counted.
    public func write(line: String) {
        guard descriptor >= 0 else { return }
        var bytes = Array(line.utf8)
        bytes.append(10)
        let startWriter = queue.withLock { queue -> Bool in
            guard queue.bytes + bytes.count <= Self.queueLimit else {
                queue.dropped += 1
                queue.droppedTotal += 1
                return false
            }
            if queue.dropped > 0 {
                // Where the lines went missing, the log says so.
                let note = Self.droppedNote(queue.dropped)
                queue.dropped = 0
                queue.lines.append(note)
                queue.bytes += note.count
            }
            queue.lines.append(bytes)
            queue.bytes += bytes.count
            if queue.writing { return false }
            queue.writing = true
            return true
        }
        if startWriter {
            let thread = Thread { [self] in drain() }
            thread.name = "log writer"
            thread.start()
        }
    }

    /// Waits until every queued line is written, or `timeout` passed; returns whether the queue
    /// drained (a reader that never reads makes it time out).
    @discardableResult
    public func flush(timeout: Duration = .seconds(1)) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while queue.withLock({ $0.writing }) {
            if !condition.wait(until: deadline) { return !queue.withLock { $0.writing } }
        }
        return true
    }

    /// The writer thread: writes what is queued, then ends (the next line starts another).
    private func drain() {
        while true {
            let next = queue.withLock { queue -> [UInt8]? in
                guard queue.head < queue.lines.count else {
                    if queue.dropped > 0 {
                        // Lines were dropped after the last one queued: said at the end.
                        defer { queue.dropped = 0 }
                        return Self.droppedNote(queue.dropped)
                    }
                    queue.lines.removeAll(keepingCapacity: queue.lines.capacity <= 1024)
                    queue.head = 0
                    queue.writing = false
                    return nil
                }
                let line = queue.lines[queue.head]
                queue.head += 1
                queue.bytes -= line.count
                if queue.head >= 1024 {
                    queue.lines.removeFirst(queue.head)
                    queue.head = 0
                }
                return line
            }
            guard let line = next else { break }
            writeAll(line)
        }
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    private static func droppedNote(_ count: Int) -> [UInt8] {
        Array("(\(count) log lines dropped: their reader was too slow)\n".utf8)
    }

    /// One line in one `write(2)`, retrying partial writes and EINTR.
    private func writeAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { raw in
                systemWrite(descriptor, raw.baseAddress! + offset, raw.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
        Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
        Musl.write(fd, buffer, count)
    #else
        Darwin.write(fd, buffer, count)
    #endif
}

/// Why a log file could not be opened.
public struct LogSinkOpenError: Error, Sendable {
    /// The system's reason, e.g. `No such file or directory`.
    public var reason: String
}

/// The logging sections of an INI file in Python's `logging.config.fileConfig` format, read and
/// checked: `[loggers]`, `[logger_<key>]`, `[handlers]`, `[handler_<key>]`, `[formatters]`,
/// `[formatter_<key>]`.
///
/// Semantics follow Python: a logger's effective level is its own or its nearest configured
/// ancestor's (qualnames are dotted: `cs.eyrie` is a child of `cs` and of the root); a record
/// that passes it goes to the logger's handlers and, while `propagate` is on, its ancestors',
/// each of which filters by its own level and formats with its formatter.
public struct LoggingConfiguration: Sendable {
    /// One configured handler.
    public struct Handler: Sendable {
        /// The handler's key (`console` for `[handler_console]`).
        public var key: String
        /// Where its records go.
        public var output: Output
        /// Its threshold (`NOTSET` reads as `.trace`).
        public var level: Logger.Level
        /// Its format (lines only: a ZMQHandler ships the record's fields, unformatted).
        public var format: LogFormat

        /// Where a handler's records go.
        public enum Output: Sendable {
            /// Formatted lines, to a stream or file (`StreamHandler`, `FileHandler`, `NullHandler`).
            case lines(LogSink)
            /// Whole records, to a collector over ZeroMQ (`ZMQHandler`).
            case publisher(LogPublisher)
        }

        /// A handler writing formatted lines to `sink`.
        public init(key: String, sink: LogSink, level: Logger.Level, format: LogFormat) {
            self.init(key: key, output: .lines(sink), level: level, format: format)
        }

        /// A handler with any output.
        public init(key: String, output: Output, level: Logger.Level, format: LogFormat = .standard) {
            self.key = key
            self.output = output
            self.level = level
            self.format = format
        }

        /// The line sink, for a handler that writes lines.
        public var sink: LogSink? {
            if case .lines(let sink) = output { return sink }
            return nil
        }

        /// The publisher, for a ZMQHandler.
        public var publisher: LogPublisher? {
            if case .publisher(let publisher) = output { return publisher }
            return nil
        }

        /// Writes `record` (formatted, or shipped whole).
        func write(_ record: LogRecord) {
            switch output {
            case .lines(let sink): sink.write(line: format.format(record))
            case .publisher(let publisher): publisher.publish(record)
            }
        }

        /// Waits, at most `timeout`, until what the handler queued is written or handed to its
        /// socket; returns whether it was.
        @discardableResult
        public func flush(timeout: Duration) -> Bool {
            switch output {
            case .lines(let sink): sink.flush(timeout: timeout)
            case .publisher(let publisher): publisher.flush(timeout: timeout)
            }
        }
    }

    /// One configured logger.
    public struct LoggerEntry: Sendable {
        /// The dotted name loggers are looked up by (`""` for the root).
        public var qualname: String
        /// Its own level; nil is `NOTSET` (inherit from the parent).
        public var level: Logger.Level?
        /// Indices into ``LoggingConfiguration/handlers``.
        public var handlers: [Int]
        /// Whether records also go to the parent's handlers.
        public var propagate: Bool
    }

    /// The configured handlers.
    public var handlers: [Handler]
    /// The configured loggers by qualname; the root is `""`.
    public var loggers: [String: LoggerEntry]

    /// What a process uses when its INI has no `[loggers]` section: the root at `INFO` writing
    /// ``LogFormat/standard`` (timestamp, level, process title, message) to stderr.
    public static func standard() -> LoggingConfiguration {
        // Opening stderr cannot fail.
        let sink = try! LogSink(.standardError)
        let format = LogFormat.standard
        return LoggingConfiguration(
            handlers: [Handler(key: "console", sink: sink, level: .trace, format: format)],
            loggers: ["": LoggerEntry(qualname: "", level: .info, handlers: [0], propagate: false)])
    }

    /// Creates a configuration from parts.
    public init(handlers: [Handler], loggers: [String: LoggerEntry]) {
        self.handlers = handlers
        self.loggers = loggers
    }

    /// Reads the logging sections of `document` (the file at `path`, for messages). With no
    /// `[loggers]` section the result is ``standard()``. Files named by `FileHandler`s are
    /// opened (relative paths against the current directory, as Python does). A ZMQHandler's
    /// keys may be overridden from `environment` (`ZGEN_LOG_<HANDLER>_<KEY>`) and by
    /// `assignments` (`log.<handler>.<key>=…`, from `--set`); see ``ZMQHandlerKey``.
    public init(document: INIDocument, path: String, environment: [String: String] = [:], assignments: [String] = [])
        throws(ConfigurationError)
    {
        let handlerKeys = document.section("handlers")?["keys"]?.listItems().map(\.value).filter { !$0.isEmpty } ?? []
        let overrides = try LoggingConfiguration.handlerOverrides(
            handlers: document.section("loggers") == nil ? [] : handlerKeys, environment: environment, assignments: assignments)
        guard let loggersSection = document.section("loggers") else {
            self = .standard()
            return
        }
        func error(_ position: SourcePosition?, _ message: String) -> ConfigurationError {
            ConfigurationError(path: path, position: position, message: message)
        }
        func keys(of section: INISection) throws(ConfigurationError) -> [INIListItem] {
            guard let entry = section["keys"] else {
                throw error(section.position, "[\(section.name)] needs 'keys = a, b, ...'")
            }
            return entry.listItems().filter { !$0.value.isEmpty }
        }

        // Formatters.
        var formats: [String: LogFormat] = [:]
        if let section = document.section("formatters") {
            for item in try keys(of: section) {
                guard let formatterSection = document.section("formatter_\(item.value)") else {
                    throw error(item.position, "[formatters] keys: formatter '\(item.value)' has no [formatter_\(item.value)] section")
                }
                let text = formatterSection["format"]?.value ?? "%(message)s"
                let datefmt = formatterSection["datefmt"].flatMap { $0.value.isEmpty ? nil : $0.value }
                if let style = formatterSection["style"], style.value != "%" {
                    throw error(style.valuePosition, "[formatter_\(item.value)] style: only '%' formats are supported, not '\(style.value)'")
                }
                do {
                    formats[item.value] = try LogFormat(text, dateFormat: datefmt)
                } catch let problem {
                    var position = formatterSection["format"]?.valuePosition
                    position?.column += Array(text.prefix(problem.offset)).reduce(0) { $0 + $1.utf8.count }
                    throw error(position ?? formatterSection.position, "[formatter_\(item.value)] format: \(problem.message)")
                }
            }
        }

        // Handlers.
        var handlers: [Handler] = []
        var handlerIndex: [String: Int] = [:]
        if let section = document.section("handlers") {
            for item in try keys(of: section) {
                let name = "handler_\(item.value)"
                guard let handlerSection = document.section(name) else {
                    throw error(item.position, "[handlers] keys: handler '\(item.value)' has no [\(name)] section")
                }
                guard let classEntry = handlerSection["class"] else {
                    throw error(handlerSection.position, "[\(name)] needs 'class = StreamHandler', 'FileHandler' or 'ZMQHandler'")
                }
                let className = classEntry.value.hasPrefix("logging.") ? String(classEntry.value.dropFirst(8)) : classEntry.value
                let arguments = handlerSection["args"].map { LoggingConfiguration.pythonTuple($0.value) } ?? []
                let handlerOverrides = overrides[item.value] ?? [:]
                if !handlerOverrides.isEmpty, !ZMQHandlerKey.isHandlerClass(className),
                   let (key, setting) = handlerOverrides.first(where: { $0.key != .level }) {
                    throw ConfigurationError(origin: setting.origin,
                        message: "\(key.rawValue): handler '\(item.value)' is a \(className); only a ZMQHandler takes this key")
                }
                var level = Logger.Level.trace
                let levelSetting = handlerOverrides[.level].map { ($0.value, $0.origin) }
                    ?? handlerSection["level"].map { ($0.value, "\(path):\($0.valuePosition)") }
                if let (text, origin) = levelSetting, !text.isEmpty {
                    guard let parsed = Logger.Level(pythonName: text) else {
                        throw ConfigurationError(origin: origin, message: "[\(name)] level: unknown level '\(text)' (expected NOTSET, DEBUG, INFO, WARNING, ERROR or CRITICAL)")
                    }
                    level = parsed
                }
                if ZMQHandlerKey.isHandlerClass(className) {
                    let publisher = try LoggingConfiguration.zmqPublisher(
                        section: handlerSection, key: item.value, arguments: arguments, path: path, overrides: handlerOverrides)
                    handlerIndex[item.value] = handlers.count
                    handlers.append(Handler(key: item.value, output: .publisher(publisher), level: level))
                    continue
                }
                let target: LogSink.Target
                switch className {
                case "StreamHandler":
                    let streamEntry = handlerSection["stream"]
                    let stream = streamEntry?.value ?? arguments.first ?? "sys.stderr"
                    switch stream.hasPrefix("ext://") ? String(stream.dropFirst(6)) : stream {
                    case "sys.stderr": target = .standardError
                    case "sys.stdout": target = .standardOutput
                    default:
                        let where_ = streamEntry?.valuePosition ?? handlerSection["args"]?.valuePosition
                        throw error(where_, "[\(name)] \(streamEntry == nil ? "args" : "stream"): unknown stream '\(stream)' (expected sys.stderr or sys.stdout)")
                    }
                case "FileHandler", "WatchedFileHandler":
                    guard let file = handlerSection["filename"]?.value ?? arguments.first, !file.isEmpty else {
                        throw error(handlerSection["args"]?.valuePosition ?? classEntry.valuePosition,
                            "[\(name)] args: FileHandler needs a file name, e.g. args = ('app.log', 'a')")
                    }
                    let mode = handlerSection["mode"]?.value ?? (arguments.count > 1 ? arguments[1] : "a")
                    target = .file(path: file, truncate: mode.hasPrefix("w"))
                case "NullHandler":
                    target = .null
                default:
                    throw error(classEntry.valuePosition,
                        "[\(name)] class: unknown handler class '\(classEntry.value)' (expected StreamHandler, FileHandler, NullHandler or ZMQHandler)")
                }
                var format = LogFormat.standard
                if let formatterEntry = handlerSection["formatter"], !formatterEntry.value.isEmpty {
                    guard let found = formats[formatterEntry.value] else {
                        throw error(formatterEntry.valuePosition, "[\(name)] formatter: no formatter '\(formatterEntry.value)' in [formatters] keys")
                    }
                    format = found
                }
                let sink: LogSink
                do {
                    sink = try LogSink(target)
                } catch let failure {
                    var shown = ""
                    if case .file(let file, _) = target { shown = " '\(file)'" }
                    throw error(handlerSection["args"]?.valuePosition ?? handlerSection["filename"]?.valuePosition ?? classEntry.valuePosition,
                        "[\(name)] args: cannot open log file\(shown): \(failure.reason)")
                }
                handlerIndex[item.value] = handlers.count
                handlers.append(Handler(key: item.value, sink: sink, level: level, format: format))
            }
        }

        // Loggers.
        var loggers: [String: LoggerEntry] = [:]
        let loggerKeys = try keys(of: loggersSection)
        guard loggerKeys.contains(where: { $0.value == "root" }) else {
            throw error(loggersSection["keys"]?.valuePosition ?? loggersSection.position, "[loggers] keys must include 'root'")
        }
        for item in loggerKeys {
            let name = "logger_\(item.value)"
            guard let loggerSection = document.section(name) else {
                throw error(item.position, "[loggers] keys: logger '\(item.value)' has no [\(name)] section")
            }
            let isRoot = item.value == "root"
            var level: Logger.Level? = isRoot ? .warning : nil
            if let levelEntry = loggerSection["level"], !levelEntry.value.isEmpty {
                guard let parsed = Logger.Level(pythonName: levelEntry.value) else {
                    throw error(levelEntry.valuePosition, "[\(name)] level: unknown level '\(levelEntry.value)' (expected NOTSET, DEBUG, INFO, WARNING, ERROR or CRITICAL)")
                }
                level = levelEntry.value.uppercased() == "NOTSET" && !isRoot ? nil : parsed
            }
            var indices: [Int] = []
            if let handlersEntry = loggerSection["handlers"] {
                for handler in handlersEntry.listItems() where !handler.value.isEmpty {
                    guard let index = handlerIndex[handler.value] else {
                        throw error(handler.position, "[\(name)] handlers: no handler '\(handler.value)' in [handlers] keys")
                    }
                    indices.append(index)
                }
            }
            var propagate = true
            if let propagateEntry = loggerSection["propagate"] {
                switch propagateEntry.value.lowercased() {
                case "1", "true", "yes", "on": propagate = true
                case "0", "false", "no", "off": propagate = false
                default:
                    throw error(propagateEntry.valuePosition, "[\(name)] propagate: expected 0 or 1, not '\(propagateEntry.value)'")
                }
            }
            let qualname: String
            if isRoot {
                qualname = ""
            } else {
                guard let qualnameEntry = loggerSection["qualname"], !qualnameEntry.value.isEmpty else {
                    throw error(loggerSection.position, "[\(name)] needs 'qualname = <dotted.logger.name>'")
                }
                qualname = qualnameEntry.value
            }
            loggers[qualname] = LoggerEntry(qualname: qualname, level: level, handlers: indices, propagate: propagate)
        }
        self.handlers = handlers
        self.loggers = loggers
    }

    /// The items of a Python tuple literal such as `(sys.stderr,)` or `('app.log', 'a')`,
    /// unquoted; anything else is split at top-level commas.
    static func pythonTuple(_ text: String) -> [String] {
        var body = Substring(text).drop { $0 == " " }
        if body.first == "(" { body = body.dropFirst() }
        while body.last == " " { body = body.dropLast() }
        if body.last == ")" { body = body.dropLast() }
        var items: [String] = []
        var current = ""
        var quote: Character?
        var wasQuoted = false
        func flush() {
            let trimmed = wasQuoted ? current : current.trimmingSpaces()
            if !trimmed.isEmpty || wasQuoted { items.append(trimmed) }
            current = ""
            wasQuoted = false
        }
        for char in body {
            if let open = quote {
                if char == open { quote = nil } else { current.append(char) }
            } else if char == "'" || char == "\"" {
                quote = char
                wasQuoted = true
                current = ""
            } else if char == "," {
                flush()
            } else if !wasQuoted {
                current.append(char)
            }
        }
        flush()
        return items
    }

    /// Whether a logger with this qualname (or the key `root`) is configured.
    public func hasLogger(_ name: String) -> Bool {
        name == "root" || name.isEmpty || loggers[name] != nil
    }

    /// What a logger label resolves to: its effective level and the handlers its records reach.
    public struct Resolution: Sendable {
        /// The effective level.
        public var level: Logger.Level
        /// Indices of the handlers, in the order records reach them.
        public var handlers: [Int]
    }

    /// Resolves a swift-log label as a Python logger name (`root` and `""` are the root).
    public func resolve(_ label: String) -> Resolution {
        var chain: [LoggerEntry] = []
        if label != "root", !label.isEmpty {
            var name = Substring(label)
            while true {
                if let entry = loggers[String(name)] { chain.append(entry) }
                guard let dot = name.lastIndex(of: ".") else { break }
                name = name[..<dot]
            }
        }
        if let root = loggers[""] { chain.append(root) }
        let level = chain.lazy.compactMap(\.level).first ?? .warning
        var handlers: [Int] = []
        for entry in chain {
            handlers += entry.handlers
            if !entry.propagate { break }
        }
        return Resolution(level: level, handlers: handlers)
    }
}

extension String {
    func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" || first == "\n" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" || last == "\n" { slice = slice.dropLast() }
        return String(slice)
    }
}
