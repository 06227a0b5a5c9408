import ZDaemon
#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
import Logging

/// One log record as Python's `logging.Formatter` sees it: the fields a `%(name)s` format may use.
public struct LogRecord: Sendable {
    /// The logger's name (its qualname), `%(name)s`.
    public var name: String
    /// The level, `%(levelname)s` / `%(levelno)d`.
    public var level: Logger.Level
    /// The message text, `%(message)s`.
    public var message: String
    /// The swift-log metadata, `%(metadata)s` (empty when none).
    public var metadata: Logger.Metadata
    /// The process title, `%(processName)s`.
    public var processName: String
    /// The process id, `%(process)d`.
    public var process: Int
    /// Seconds since the epoch, `%(created)f`; `%(asctime)s` and `%(msecs)d` derive from it.
    public var created: Double
    /// The source file, `%(pathname)s`; `%(filename)s` and `%(module)s` derive from it.
    public var file: String
    /// The function, `%(funcName)s`.
    public var function: String
    /// The line, `%(lineno)d`.
    public var line: UInt
    /// The thread id, `%(thread)d`.
    public var thread: Int
    /// The module that logged (swift-log's `source`), `%(source)s`.
    public var source: String
    /// The host the record was logged on, `%(hostname)s` (this host's name unless the record
    /// came from elsewhere, as the collector's do).
    public var hostname: String
    /// The app of the process that logged (its schema's `app`), `%(app)s`; empty when unknown.
    public var app: String

    /// Creates a record.
    public init(
        name: String, level: Logger.Level, message: String, metadata: Logger.Metadata = [:],
        processName: String, process: Int, created: Double, file: String = "", function: String = "",
        line: UInt = 0, thread: Int = 0, source: String = "", hostname: String = LogRecord.localHostname,
        app: String = ""
    ) {
        self.name = name
        self.level = level
        self.message = message
        self.metadata = metadata
        self.processName = processName
        self.process = process
        self.created = created
        self.file = file
        self.function = function
        self.line = line
        self.thread = thread
        self.source = source
        self.hostname = hostname
        self.app = app
    }

    /// This host's name (`gethostname`), read once.
    public static let localHostname: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }()
}

extension Logger.Level {
    /// Python's name for this level (`DEBUG`, `INFO`, `WARNING`, ...); swift-log's extra levels
    /// are `TRACE` and `NOTICE`.
    public var pythonName: String {
        switch self {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .notice: "NOTICE"
        case .warning: "WARNING"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }

    /// Python's number for this level (`DEBUG` 10 ... `CRITICAL` 50; `TRACE` 5, `NOTICE` 25).
    public var pythonNumber: Int {
        switch self {
        case .trace: 5
        case .debug: 10
        case .info: 20
        case .notice: 25
        case .warning: 30
        case .error: 40
        case .critical: 50
        }
    }

    /// Reads a Python level name (`NOTSET`, `DEBUG`, `INFO`, `WARNING`/`WARN`, `ERROR`,
    /// `CRITICAL`/`FATAL`, plus `TRACE` and `NOTICE`), case-insensitively. `NOTSET` reads as
    /// `.trace` (everything passes). Nil if the name is unknown.
    public init?(pythonName: String) {
        switch pythonName.uppercased() {
        case "NOTSET", "TRACE": self = .trace
        case "DEBUG": self = .debug
        case "INFO": self = .info
        case "NOTICE": self = .notice
        case "WARNING", "WARN": self = .warning
        case "ERROR": self = .error
        case "CRITICAL", "FATAL": self = .critical
        default: return nil
        }
    }
}

/// A compiled Python `%`-style log format, e.g. `%(processName)-13s %(message)s`.
///
/// Supported: `%(key)[flags][width][.precision]type` with flags `-` (left-align), `0`, `+`,
/// space, and types `s`, `r`, `d`, `i`, `f`, `x`; `%%` is a literal percent sign. Keys:
/// `name levelname levelno message metadata processName process asctime created msecs
/// pathname filename module funcName lineno thread threadName source hostname app`.
public struct LogFormat: Sendable, Equatable {
    /// The keys a format may name.
    public static let knownKeys: Set<String> = [
        "name", "levelname", "levelno", "message", "metadata", "processName", "process", "asctime",
        "created", "msecs", "relativeCreated", "pathname", "filename", "module", "funcName", "lineno",
        "thread", "threadName", "source", "hostname", "app",
    ]

    enum Piece: Sendable, Equatable {
        case literal(String)
        case field(key: String, leftAlign: Bool, zeroPad: Bool, sign: String, width: Int, precision: Int?, type: Character)
    }

    /// A problem in a format string; `offset` counts characters from the start of the format.
    public struct Error: Swift.Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong.
        public var message: String
        /// Where, in characters from the start of the format string.
        public var offset: Int
        /// The message.
        public var description: String { message }
    }

    let pieces: [Piece]
    /// The format string as written.
    public let source: String
    /// The `strftime` format for `%(asctime)s`; nil means Python's default `%Y-%m-%d %H:%M:%S,mmm`.
    public let dateFormat: String?

    /// Compiles `format`; `dateFormat` is the formatter's `datefmt`.
    public init(_ format: String, dateFormat: String? = nil) throws(LogFormat.Error) {
        self.source = format
        self.dateFormat = dateFormat
        var pieces: [Piece] = []
        var literal = ""
        let chars = Array(format)
        var index = 0
        func fail(_ message: String, at offset: Int) -> LogFormat.Error {
            LogFormat.Error(message: message, offset: offset)
        }
        while index < chars.count {
            let char = chars[index]
            guard char == "%" else {
                literal.append(char)
                index += 1
                continue
            }
            let start = index
            index += 1
            guard index < chars.count else { throw fail("format ends with a lone '%'", at: start) }
            if chars[index] == "%" {
                literal.append("%")
                index += 1
                continue
            }
            guard chars[index] == "(" else {
                throw fail("expected '%(key)s' or '%%' at '\(String(chars[start..<min(chars.count, start + 6)]))'", at: start)
            }
            index += 1
            var key = ""
            while index < chars.count, chars[index] != ")" {
                key.append(chars[index])
                index += 1
            }
            guard index < chars.count else { throw fail("'%(' without closing ')'", at: start) }
            index += 1
            guard LogFormat.knownKeys.contains(key) else {
                throw fail("unknown field '%(\(key))'", at: start)
            }
            var leftAlign = false
            var zeroPad = false
            var sign = ""
            while index < chars.count, "-0+ #".contains(chars[index]) {
                switch chars[index] {
                case "-": leftAlign = true
                case "0": zeroPad = true
                case "+": sign = "+"
                case " ": if sign.isEmpty { sign = " " }
                default: break
                }
                index += 1
            }
            var width = 0
            while index < chars.count, let digit = chars[index].wholeNumberValue, chars[index].isASCII {
                width = width * 10 + digit
                index += 1
            }
            var precision: Int?
            if index < chars.count, chars[index] == "." {
                index += 1
                var value = 0
                while index < chars.count, let digit = chars[index].wholeNumberValue, chars[index].isASCII {
                    value = value * 10 + digit
                    index += 1
                }
                precision = value
            }
            guard index < chars.count else { throw fail("'%(\(key))' has no conversion type (e.g. 's')", at: start) }
            let type = chars[index]
            guard "srdifx".contains(type) else {
                throw fail("unsupported conversion type '\(type)' in '%(\(key))'", at: start)
            }
            index += 1
            if !literal.isEmpty {
                pieces.append(.literal(literal))
                literal = ""
            }
            pieces.append(
                .field(key: key, leftAlign: leftAlign, zeroPad: zeroPad, sign: sign, width: width, precision: precision, type: type))
        }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// The format of a handler without a formatter, and of a process whose INI has no
    /// `[loggers]`: a timestamp, the level, the process title and the message
    /// (`2026-12-02 09:12:05,123 WARNING  (my:worker)   MyWorker: …`). Python's would be
    /// `%(message)s` alone, which tells an operator neither when nor how bad.
    public static let standard: LogFormat = try! LogFormat("%(asctime)s %(levelname)-8s %(processName)-13s %(message)s")

    /// Renders `record` (no trailing newline).
    public func format(_ record: LogRecord) -> String {
        var out = ""
        for piece in pieces {
            switch piece {
            case .literal(let text):
                out += text
            case .field(let key, let leftAlign, let zeroPad, let sign, let width, let precision, let type):
                out += render(key: key, record: record, leftAlign: leftAlign, zeroPad: zeroPad, sign: sign, width: width,
                    precision: precision, type: type)
            }
        }
        return out
    }

    private enum Value {
        case text(String)
        case integer(Int)
        case real(Double)
    }

    private func value(of key: String, in record: LogRecord) -> Value {
        switch key {
        case "name": .text(record.name)
        case "levelname": .text(record.level.pythonName)
        case "levelno": .integer(record.level.pythonNumber)
        case "message": .text(record.message)
        case "metadata":
            .text(record.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        case "processName": .text(record.processName)
        case "process": .integer(record.process)
        case "asctime": .text(asctime(record.created))
        case "created": .real(record.created)
        case "msecs": .real((record.created - record.created.rounded(.down)) * 1000)
        case "relativeCreated": .real((record.created - LogFormat.processStart) * 1000)
        case "pathname": .text(record.file)
        case "filename": .text(String(record.file.split(separator: "/").last ?? ""))
        case "module":
            .text(String((record.file.split(separator: "/").last ?? "").split(separator: ".").first ?? ""))
        case "funcName": .text(record.function)
        case "lineno": .integer(Int(record.line))
        case "thread": .integer(record.thread)
        case "threadName": .text(record.thread == record.process ? "MainThread" : "Thread-\(record.thread)")
        case "source": .text(record.source)
        case "hostname": .text(record.hostname)
        case "app": .text(record.app)
        default: .text("")
        }
    }

    static let processStart: Double = LogFormat.now()

    /// The current time in seconds since the epoch.
    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    private func asctime(_ created: Double) -> String {
        // A record from elsewhere may say anything: keep the conversion in range.
        let created = created.isFinite ? min(max(created, 0), 1e12) : 0
        var seconds = time_t(created.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 256)
        let pattern = dateFormat ?? "%Y-%m-%d %H:%M:%S"
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        var text = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if dateFormat == nil {
            let millis = Int((created - created.rounded(.down)) * 1000)
            text += "," + pad(String(millis), to: 3, with: "0")
        }
        return text
    }

    private func pad(_ text: String, to width: Int, with fill: Character) -> String {
        text.count >= width ? text : String(repeating: fill, count: width - text.count) + text
    }

    private func render(
        key: String, record: LogRecord, leftAlign: Bool, zeroPad: Bool, sign: String, width: Int, precision: Int?,
        type: Character
    ) -> String {
        let value = value(of: key, in: record)
        var body: String
        var numeric = false
        switch type {
        case "d", "i", "x":
            numeric = true
            let number: Int
            switch value {
            case .integer(let int): number = int
            case .real(let real): number = Int(real)
            case .text(let text): number = Int(text) ?? 0
            }
            body = type == "x" ? String(number, radix: 16) : String(number)
            if number >= 0 { body = sign + body }
        case "f":
            numeric = true
            let number: Double
            switch value {
            case .integer(let int): number = Double(int)
            case .real(let real): number = real
            case .text(let text): number = Double(text) ?? 0
            }
            body = fixed(number, precision: precision ?? 6)
            if number >= 0 { body = sign + body }
        default:
            switch value {
            case .integer(let int): body = String(int)
            case .real(let real): body = String(real)
            case .text(let text): body = type == "r" ? "'\(text)'" : text
            }
            if let precision, body.count > precision { body = String(body.prefix(precision)) }
        }
        guard body.count < width else { return body }
        let fill = width - body.count
        if leftAlign { return body + String(repeating: " ", count: fill) }
        if zeroPad, numeric {
            let hasSign = body.first == "-" || body.first == "+" || body.first == " "
            let signPart = hasSign ? String(body.first!) : ""
            return signPart + String(repeating: "0", count: fill) + body.dropFirst(hasSign ? 1 : 0)
        }
        return String(repeating: " ", count: fill) + body
    }

    private func fixed(_ number: Double, precision: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = withVaList([number]) { vsnprintf(&buffer, buffer.count, "%.\(precision)f", $0) }
        return String(decoding: buffer.prefix(Int(max(0, count))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
