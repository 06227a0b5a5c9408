import Foundation

/// Thrown by generated decoders; the runtime logs, counts ("dropped") and drops the message.
public struct FrameDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Message type name, e.g. `Text`.
    public var message: String
    /// Frame name, e.g. `text`.
    public var frame: String
    /// 0-based frame index.
    public var index: Int
    /// What was wrong, e.g. `expected 8 bytes, got 3`, `invalid UTF-8`, `missing frame`.
    public var reason: String

    /// Creates the error.
    public init(message: String, frame: String, index: Int, reason: String) {
        self.message = message
        self.frame = frame
        self.index = index
        self.reason = reason
    }

    /// `malformed <message>: frame <index> (<frame>): <reason>`.
    public var description: String { "malformed \(message): frame \(index) (\(frame)): \(reason)" }
}

/// Sequential decoder used by generated `init(frames:)`: each call consumes one frame.
public struct FrameReader {
    private let frames: [Frame]
    private let messageName: String
    private var position = 0

    /// Starts reading `frames` of a message named `message` (used in errors).
    public init(_ frames: [Frame], message: String) {
        self.frames = frames
        self.messageName = message
    }

    /// Frames not yet read (for `repeated` trailing frames).
    public var remaining: Int { frames.count - position }

    private func failure(_ name: String, _ reason: String) -> FrameDecodingError {
        FrameDecodingError(message: messageName, frame: name, index: position, reason: reason)
    }

    private mutating func next(_ name: String) throws -> Frame {
        guard position < frames.count else { throw failure(name, "missing frame") }
        let frame = frames[position]
        position += 1
        return frame
    }

    private mutating func next(_ name: String, width: Int) throws -> Frame {
        guard position < frames.count else { throw failure(name, "missing frame") }
        let frame = frames[position]
        guard frame.count == width else { throw failure(name, "expected \(width) bytes, got \(frame.count)") }
        position += 1
        return frame
    }

    /// A UTF-8 string frame.
    public mutating func string(_ name: String) throws -> String {
        guard position < frames.count else { throw failure(name, "missing frame") }
        guard let text = String(validating: frames[position], as: UTF8.self) else {
            throw failure(name, "invalid UTF-8")
        }
        position += 1
        return text
    }

    /// A raw bytes frame.
    public mutating func bytes(_ name: String) throws -> [UInt8] { try next(name) }

    /// A 1-byte boolean frame: 0 or 1.
    public mutating func bool(_ name: String) throws -> Bool {
        let frame = try next(name, width: 1)
        switch frame[0] {
        case 0: return false
        case 1: return true
        default:
            position -= 1
            throw failure(name, "expected 0 or 1, got \(frame[0])")
        }
    }

    /// A big-endian integer frame of exactly `T`'s width.
    public mutating func integer<T: FixedWidthInteger>(_ name: String, as type: T.Type) throws -> T {
        let frame = try next(name, width: MemoryLayout<T>.size)
        var value: T = 0
        for byte in frame { value = (value << 8) | T(truncatingIfNeeded: byte) }
        return value
    }

    /// An IEEE 754 big-endian 4-byte float frame.
    public mutating func float(_ name: String) throws -> Float {
        Float(bitPattern: try integer(name, as: UInt32.self))
    }

    /// An IEEE 754 big-endian 8-byte double frame.
    public mutating func double(_ name: String) throws -> Double {
        Double(bitPattern: try integer(name, as: UInt64.self))
    }

    /// A JSON frame decoded as `T`.
    public mutating func json<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        guard position < frames.count else { throw failure(name, "missing frame") }
        do {
            let value = try JSONDecoder().decode(T.self, from: Data(frames[position]))
            position += 1
            return value
        } catch {
            throw failure(name, "invalid JSON: \(error)")
        }
    }

    /// Throws `unexpected extra frame` if frames remain unread.
    public func finish() throws {
        if position < frames.count {
            throw FrameDecodingError(message: messageName, frame: "", index: position, reason: "unexpected extra frame")
        }
    }
}

/// Encoders used by generated `encodeFrames()`; the inverse of ``FrameReader``.
public enum FrameEncoder {
    /// UTF-8 bytes of `v`.
    public static func string(_ v: String) -> Frame { Array(v.utf8) }
    /// `v` as is.
    public static func bytes(_ v: [UInt8]) -> Frame { v }
    /// One byte, 0 or 1.
    public static func bool(_ v: Bool) -> Frame { [v ? 1 : 0] }
    /// Big-endian bytes of `v`, exactly `T`'s width.
    public static func integer<T: FixedWidthInteger>(_ v: T) -> Frame {
        let width = MemoryLayout<T>.size
        return (0..<width).map { UInt8(truncatingIfNeeded: v >> ((width - 1 - $0) * 8)) }
    }
    /// IEEE 754 big-endian, 4 bytes.
    public static func float(_ v: Float) -> Frame { integer(v.bitPattern) }
    /// IEEE 754 big-endian, 8 bytes.
    public static func double(_ v: Double) -> Frame { integer(v.bitPattern) }
    /// JSON encoding of `v` (sorted keys, so equal values give equal bytes).
    public static func json<T: Encodable>(_ v: T) throws -> Frame {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(v))
    }
}

/// A typed message: generated structs conform.
public protocol FrameMessage: Sendable {
    /// Decodes from frames; throws ``FrameDecodingError``.
    init(frames: [Frame]) throws
    /// Encodes to frames; throws only for json frames.
    func encodeFrames() throws -> [Frame]
}
