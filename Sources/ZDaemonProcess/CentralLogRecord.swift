import Foundation
import Logging

/// The wire layout of a log record shipped to a collector (README, "Centralized logging").
///
/// One ZeroMQ message of two frames:
/// 1. the **topic**, UTF-8: `<app>.<LEVEL>.<label>` (`my_zmq.INFO.root`), so that a subscriber
///    can filter by app, then level, with ZeroMQ's prefix subscriptions;
/// 2. the **record**, a UTF-8 JSON object:
///    `{"v":1,"time":1764700000.123456,"level":"INFO","label":"root","message":"…",
///    "metadata":{…},"source":"MyZmqExample","file":"MyZmqExample/MyZmqCommand.swift",
///    "function":"tick(_:)","line":62,"hostname":"web-3","pid":4242,"title":"(my:server)",
///    "app":"my_zmq"}`.
///
/// `time` (seconds since the epoch), `level` (Python's names: `TRACE`, `DEBUG`, `INFO`,
/// `NOTICE`, `WARNING`, `ERROR`, `CRITICAL`; case-insensitive on reading) and `message` are
/// required; every other key may be left out, and keys a reader does not know are ignored (so a
/// newer sender may add some). `v` is the layout's version; a reader refuses a newer one.
/// Metadata values are strings, arrays or objects (swift-log's); a reader also takes numbers
/// and booleans, as their JSON text.
public enum CentralLogRecord {
    /// The layout version this runtime writes and reads.
    public static let version = 1

    /// The longest message text shipped (32 KiB); a longer one is cut at a character boundary
    /// and ends with `… (truncated, N bytes)`.
    public static let maxMessageBytes = 32 << 10

    /// The most bytes one record frame has (64 KiB): a record still bigger after its message was
    /// cut loses its metadata (replaced by `{"truncated": "…"}`). The collector refuses larger
    /// frames.
    public static let maxRecordBytes = 64 << 10

    /// The longest label, and the longest of the other short strings (title, app, hostname,
    /// file, function, source), in bytes: 1 KiB.
    public static let maxFieldBytes = 1 << 10

    /// The latest `time` a record may have: 1e12 s, about the year 33,000 (any later one is
    /// malformed: no date can show it).
    public static let maxTime: Double = 1e12

    /// The topic frame of `record`: `<app>.<LEVEL>.<label>`.
    public static func topic(of record: LogRecord) -> [UInt8] {
        Array("\(record.app).\(record.level.pythonName).\(cut(record.name, to: maxFieldBytes))".utf8)
    }

    /// The two frames of `record`: its topic and its JSON record, bounded by ``maxRecordBytes``.
    public static func frames(of record: LogRecord) -> [[UInt8]] {
        [topic(of: record), encode(record)]
    }

    /// The JSON record frame of `record` (keys in a fixed order; at most ``maxRecordBytes``).
    public static func encode(_ record: LogRecord) -> [UInt8] {
        let encoded = encode(record, metadata: record.metadata, messageLimit: maxMessageBytes)
        guard encoded.count > maxRecordBytes else { return encoded }
        // Too big with its metadata: without it; then, since escaping can grow text up to six
        // times, with the message cut shorter until the record fits.
        let note: Logger.Metadata = ["truncated": .string("metadata of \(encoded.count) bytes left out: the record was over \(maxRecordBytes >> 10) KiB")]
        var limit = maxMessageBytes
        while true {
            let smaller = encode(record, metadata: note, messageLimit: limit)
            if smaller.count <= maxRecordBytes || limit < 64 { return smaller }
            limit /= 2
        }
    }

    private static func encode(_ record: LogRecord, metadata: Logger.Metadata, messageLimit: Int) -> [UInt8] {
        var out = JSONWriter()
        out.bytes.reserveCapacity(256 + record.message.utf8.count)
        out.raw("{\"v\":\(version),\"time\":")
        out.raw(seconds(record.created))
        out.raw(",\"level\":")
        out.string(record.level.pythonName)
        out.raw(",\"label\":")
        out.string(cut(record.name, to: maxFieldBytes))
        out.raw(",\"message\":")
        var message = record.message
        if message.utf8.count > messageLimit {
            message = cut(message, to: messageLimit) + "… (truncated, \(message.utf8.count) bytes)"
        }
        out.string(message)
        if !metadata.isEmpty {
            out.raw(",\"metadata\":")
            out.metadata(metadata)
        }
        for (key, value) in [("source", record.source), ("file", record.file), ("function", record.function)] where !value.isEmpty {
            out.raw(",\"\(key)\":")
            out.string(cut(value, to: maxFieldBytes))
        }
        out.raw(",\"line\":\(record.line),\"hostname\":")
        out.string(cut(record.hostname, to: maxFieldBytes))
        out.raw(",\"pid\":\(record.process),\"title\":")
        out.string(cut(record.processName, to: maxFieldBytes))
        out.raw(",\"app\":")
        out.string(cut(record.app, to: maxFieldBytes))
        out.raw("}")
        return out.bytes
    }

    /// `1764700000.123456`: whole microseconds, the same text on every platform.
    static func seconds(_ value: Double) -> String {
        guard value.isFinite, value >= 0, value < maxTime else { return "0" }
        let micros = Int64((value * 1_000_000).rounded())
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }

    /// `text` cut to at most `limit` UTF-8 bytes, at a Unicode scalar boundary.
    static func cut(_ text: String, to limit: Int) -> String {
        let utf8 = text.utf8
        guard utf8.count > limit else { return text }
        var end = utf8.index(utf8.startIndex, offsetBy: limit)
        // Never inside a scalar: back up over continuation bytes (10xxxxxx).
        while end > utf8.startIndex, utf8[end] & 0xC0 == 0x80 { end = utf8.index(before: end) }
        return String(decoding: utf8[..<end], as: UTF8.self)
    }

    /// Why a received message is not a record in this layout.
    public struct Malformed: Error, Sendable, Equatable, CustomStringConvertible {
        /// Which frame (0 topic, 1 record).
        public var frame: Int
        /// What is wrong, e.g. `'level' is missing`.
        public var reason: String
        /// Creates the error.
        public init(frame: Int, reason: String) {
            self.frame = frame
            self.reason = reason
        }
        /// `record: 'level' is missing`.
        public var description: String { "\(frame == 0 ? "topic" : "record"): \(reason)" }
    }

    /// Reads the two frames of a shipped record: the topic must be UTF-8 (its content is not
    /// checked: the record says what it is); the record must be a JSON object in this layout
    /// of at most ``maxRecordBytes``. Strings longer than ``maxFieldBytes`` (the message: its own
    /// limit) are cut, as the sender would have. The returned record's `thread` is 0; a missing
    /// `hostname` is `-` (syslog's "unknown"), a missing `label` is `root`.
    public static func decode(topic: [UInt8], record: [UInt8]) throws(Malformed) -> LogRecord {
        guard String(validating: topic, as: UTF8.self) != nil else { throw Malformed(frame: 0, reason: "not UTF-8") }
        guard record.count <= maxRecordBytes else {
            throw Malformed(frame: 1, reason: "\(record.count) bytes, over the \(maxRecordBytes >> 10) KiB a record may have")
        }
        func fail(_ reason: String) -> Malformed { Malformed(frame: 1, reason: reason) }
        let object: [String: JSONValue]
        do {
            guard case .object(let found) = try JSONDecoder().decode(JSONValue.self, from: Data(record)) else {
                throw fail("not a JSON object")
            }
            object = found
        } catch let error as Malformed {
            throw error
        } catch {
            throw fail("not JSON (\(JSONValue.describe(error)))")
        }
        func string(_ key: String, required: Bool = false, limit: Int = maxFieldBytes) throws(Malformed) -> String? {
            switch object[key] {
            case nil, .null?:
                if required { throw fail("'\(key)' is missing") }
                return nil
            case .string(let text)?: return cut(text, to: limit)
            case let other?: throw fail("'\(key)' must be a string, not \(other.kind)")
            }
        }
        func integer(_ key: String) throws(Malformed) -> Int? {
            switch object[key] {
            case nil, .null?: return nil
            case .number(let number)? where number >= 0 && number <= 9e15 && number == number.rounded(): return Int(number)
            case let other?: throw fail("'\(key)' must be a non-negative integer, not \(other.kind)")
            }
        }
        if let version = try integer("v"), version > self.version {
            throw fail("layout version \(version) is newer than this reader's (\(self.version))")
        }
        guard case .number(let time)? = object["time"] else {
            throw fail(object["time"] == nil ? "'time' is missing" : "'time' must be seconds since the epoch, not \(object["time"]!.kind)")
        }
        guard time.isFinite, time >= 0, time < maxTime else {
            throw fail("'time' must be seconds since the epoch (0 to 1e12), not \(time)")
        }
        let levelName = try string("level", required: true)!
        guard let level = Logger.Level(pythonName: levelName), levelName.uppercased() != "NOTSET" else {
            throw fail("unknown level '\(cut(levelName, to: 40))' (expected TRACE, DEBUG, INFO, NOTICE, WARNING, ERROR or CRITICAL)")
        }
        let message = try string("message", required: true, limit: maxMessageBytes + 64)!
        var metadata: Logger.Metadata = [:]
        switch object["metadata"] {
        case nil, .null?: break
        case .object(let values)?:
            for (key, value) in values { metadata[cut(key, to: maxFieldBytes)] = value.metadataValue }
        case let other?: throw fail("'metadata' must be an object, not \(other.kind)")
        }
        let line = try integer("line") ?? 0
        return LogRecord(
            name: try string("label") ?? "root", level: level, message: message, metadata: metadata,
            processName: try string("title") ?? "", process: try integer("pid") ?? 0, created: time,
            file: try string("file") ?? "", function: try string("function") ?? "", line: UInt(line), thread: 0,
            source: try string("source") ?? "", hostname: try string("hostname") ?? "-", app: try string("app") ?? "")
    }
}

/// Any JSON value, for reading records whose keys are checked one by one.
enum JSONValue: Decodable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        if var array = try? decoder.unkeyedContainer() {
            var items: [JSONValue] = []
            while !array.isAtEnd { items.append(try array.decode(JSONValue.self)) }
            self = .array(items)
            return
        }
        if let object = try? decoder.container(keyedBy: AnyKey.self) {
            var values: [String: JSONValue] = [:]
            for key in object.allKeys { values[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(values)
            return
        }
        let value = try decoder.singleValueContainer()
        if value.decodeNil() {
            self = .null
        } else if let bool = try? value.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? value.decode(Double.self) {
            self = .number(number)
        } else {
            self = .string(try value.decode(String.self))
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    /// `a string`, `a number`, … for messages.
    var kind: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value as swift-log metadata: numbers and booleans as their JSON text.
    var metadataValue: Logger.MetadataValue {
        switch self {
        case .string(let text): .string(text)
        case .number(let number): .string(number == number.rounded() && abs(number) < 9e15 ? String(Int64(number)) : String(number))
        case .bool(let flag): .string(flag ? "true" : "false")
        case .null: .string("null")
        case .array(let items): .array(items.map(\.metadataValue))
        case .object(let values): .dictionary(values.mapValues(\.metadataValue))
        }
    }

    /// A decoding error in a few words (Foundation's own are paragraphs).
    static func describe(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return String((detail ?? context.debugDescription).prefix(120))
        }
        return String("\(error)".prefix(120))
    }
}

/// Writes JSON text into bytes: strings escaped per RFC 8259.
struct JSONWriter {
    var bytes: [UInt8] = []

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [92, 34]
            case UInt8(ascii: "\\"): bytes += [92, 92]
            case 0x0A: bytes += [92, UInt8(ascii: "n")]
            case 0x0D: bytes += [92, UInt8(ascii: "r")]
            case 0x09: bytes += [92, UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes += [92, UInt8(ascii: "u"), 48, 48, hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func metadata(_ metadata: Logger.Metadata) {
        bytes.append(UInt8(ascii: "{"))
        for (index, key) in metadata.keys.sorted().enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            string(key)
            bytes.append(UInt8(ascii: ":"))
            value(metadata[key]!)
        }
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func value(_ value: Logger.MetadataValue) {
        switch value {
        case .string(let text): string(text)
        case .stringConvertible(let convertible): string(convertible.description)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                self.value(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .dictionary(let values): metadata(values)
        }
    }
}
