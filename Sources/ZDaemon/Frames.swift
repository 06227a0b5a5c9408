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

/// The frames of the message being handled, borrowed from libzmq's receive buffers: no copy
/// is made, and the view is valid only during the handler call it is passed to (the next
/// receive on the socket reuses the buffers). Decode it (generated `init(frames:)`, or a
/// ``FrameReader``) or copy what you keep with ``copied()``; never store the view itself.
public struct ReceivedFrames {
    @usableFromInline let base: UnsafePointer<UnsafeRawBufferPointer>
    /// How many frames the message has.
    public let count: Int

    @usableFromInline init(base: UnsafePointer<UnsafeRawBufferPointer>, count: Int) {
        self.base = base
        self.count = count
    }

    /// The bytes of frame `index` (0-based), valid during the handler call only.
    @inlinable public subscript(index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < count, "frame index \(index) out of range 0..<\(count)")
        return base[index]
    }

    /// Owned copies of the frames, to keep beyond the handler call.
    public func copied() -> [Frame] {
        (0..<count).map { Frame(base[$0]) }
    }
}

/// Sequential decoder used by generated `init(frames:)`: each call consumes one frame. Reads
/// owned frames (`[Frame]`) or frames borrowed from the receive buffers (``ReceivedFrames``).
public struct FrameReader {
    // Two plain fields rather than an enum: no outlined enum copies on the hot path.
    @usableFromInline let owned: [Frame]?
    @usableFromInline let borrowed: ReceivedFrames?
    @usableFromInline let frameCount: Int
    // The name errors use: given, or (when empty) the message type's, spelled only when an
    // error is thrown. A plain String and a metatype: nothing more to destroy per message.
    private let messageName: String
    private let messageType: Any.Type?
    @usableFromInline var position = 0

    /// Starts reading `frames` of a message named `message` (used in errors).
    public init(_ frames: [Frame], message: String) {
        self.owned = frames
        self.borrowed = nil
        self.frameCount = frames.count
        self.messageName = message
        self.messageType = nil
    }

    /// Starts reading borrowed `frames` of a message named `message` (used in errors); no
    /// frame is copied except into the values decoded from it.
    public init(_ frames: ReceivedFrames, message: String) {
        self.owned = nil
        self.borrowed = frames
        self.frameCount = frames.count
        self.messageName = message
        self.messageType = nil
    }

    /// Starts reading `frames` of a `type` message (its name is used in errors).
    public init(_ frames: [Frame], type: any FrameMessage.Type) {
        self.owned = frames
        self.borrowed = nil
        self.frameCount = frames.count
        self.messageName = ""
        self.messageType = type
    }

    /// Starts reading borrowed `frames` of a `type` message (its name is used in errors).
    public init(_ frames: ReceivedFrames, type: any FrameMessage.Type) {
        self.owned = nil
        self.borrowed = frames
        self.frameCount = frames.count
        self.messageName = ""
        self.messageType = type
    }

    /// Frames not yet read (for `repeated` trailing frames).
    public var remaining: Int { frameCount - position }

    @usableFromInline func failure(_ name: String, _ reason: String) -> FrameDecodingError {
        FrameDecodingError(message: messageName.isEmpty ? messageType.map { String(describing: $0) } ?? "message" : messageName,
                           frame: name, index: position, reason: reason)
    }

    /// Runs `body` on the bytes of the current frame (throws `missing frame` past the end);
    /// does not advance.
    @inlinable @inline(__always)
    func withCurrent<R>(_ name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard position < frameCount else { throw failure(name, "missing frame") }
        if let borrowed { return try body(borrowed.base[position]) }
        return try owned.unsafelyUnwrapped[position].withUnsafeBytes(body)
    }

    @inlinable @inline(__always)
    mutating func fixed<R>(_ name: String, width: Int, _ body: (UnsafeRawBufferPointer) -> R) throws -> R {
        let result: R? = try withCurrent(name) { $0.count == width ? body($0) : nil }
        guard let result else {
            let got = try withCurrent(name) { $0.count }
            throw failure(name, "expected \(width) bytes, got \(got)")
        }
        position += 1
        return result
    }

    /// A UTF-8 string frame.
    public mutating func string(_ name: String) throws -> String {
        guard let text = try withCurrent(name, { decodeUTF8($0) }) else {
            throw failure(name, "invalid UTF-8")
        }
        position += 1
        return text
    }

    /// A raw bytes frame.
    public mutating func bytes(_ name: String) throws -> [UInt8] {
        guard position < frameCount else { throw failure(name, "missing frame") }
        let frame: [UInt8]
        if let borrowed { frame = Array(borrowed.base[position]) } else { frame = owned.unsafelyUnwrapped[position] }
        position += 1
        return frame
    }

    /// A 1-byte boolean frame: 0 or 1.
    @inlinable
    public mutating func bool(_ name: String) throws -> Bool {
        let byte = try fixed(name, width: 1) { $0[0] }
        switch byte {
        case 0: return false
        case 1: return true
        default:
            position -= 1
            throw failure(name, "expected 0 or 1, got \(byte)")
        }
    }

    /// A big-endian integer frame of exactly `T`'s width.
    @inlinable
    public mutating func integer<T: FixedWidthInteger>(_ name: String, as type: T.Type) throws -> T {
        try fixed(name, width: MemoryLayout<T>.size) { frame in T(bigEndian: frame.baseAddress!.loadUnaligned(as: T.self)) }
    }

    /// An IEEE 754 big-endian 4-byte float frame.
    @inlinable
    public mutating func float(_ name: String) throws -> Float {
        Float(bitPattern: try integer(name, as: UInt32.self))
    }

    /// An IEEE 754 big-endian 8-byte double frame.
    @inlinable
    public mutating func double(_ name: String) throws -> Double {
        Double(bitPattern: try integer(name, as: UInt64.self))
    }

    /// A JSON frame decoded as `T`.
    public mutating func json<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let data = try withCurrent(name) { Data($0) }
        do {
            let value = try JSONDecoder().decode(T.self, from: data)
            position += 1
            return value
        } catch {
            throw failure(name, "invalid JSON: \(error)")
        }
    }

    /// Throws `unexpected extra frame` if frames remain unread.
    @inlinable
    public func finish() throws {
        if position < frameCount { throw extraFrame() }
    }

    /// Skips the frames not read yet: what a message whose schema ignores extra frames
    /// (`"extraFrames": "ignore"`) does with the frames a newer sender added.
    @inlinable public mutating func skipRemaining() {
        position = frameCount
    }

    @usableFromInline func extraFrame() -> FrameDecodingError { failure("", "unexpected extra frame") }
}

/// The string `raw` encodes, or `nil` when it is not valid UTF-8.
///
/// `String(validating:as:)` goes through an unspecialised generic path in the standard library
/// that looks up generic metadata for every call (about 1,000 instructions for a 16-byte frame);
/// this uses only specialised, non-generic entry points: `String(decoding:as:)` (which
/// validates, repairing invalid input with U+FFFD), then one `memcmp`: decoding is the identity
/// on valid UTF-8, and a repaired result always differs from its input.
@inline(__always)
func decodeUTF8(_ raw: UnsafeRawBufferPointer) -> String? {
    guard raw.count > 0, let start = raw.baseAddress else { return "" }
    let count = raw.count
    var text = String(decoding: UnsafeBufferPointer(start: start.assumingMemoryBound(to: UInt8.self), count: count),
                      as: UTF8.self)
    let valid = text.withUTF8 { decoded in
        decoded.count == count && memcmp(decoded.baseAddress!, start, count) == 0
    }
    return valid ? text : nil
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

/// A typed message: generated structs conform. A message says how to read its frames
/// (``init(from:)``) and how to write them (``encodeFrames()``); decoding owned or borrowed frames,
/// and checking that none is left over, is done here, once for every message.
public protocol FrameMessage: Sendable {
    /// Reads the message's frames from `reader`, in order; throws ``FrameDecodingError``
    /// naming the frame that is wrong. Frames left over are the caller's to reject.
    init(from reader: inout FrameReader) throws
    /// Encodes to frames; throws only for json frames.
    func encodeFrames() throws -> [Frame]
    /// Writes the frames straight to a socket, in order: what a send does while nothing is
    /// queued (generated messages write each frame from its value; the default sends
    /// ``encodeFrames()``). Anything that can fail (a JSON frame's encoding) must fail before
    /// the first frame is written.
    func sendFrames(to out: inout FrameSender) throws
}

extension FrameMessage {
    /// Decodes a received message; throws ``FrameDecodingError`` when a frame is missing,
    /// malformed or left over.
    @inlinable
    public init(frames: [Frame]) throws {
        var reader = FrameReader(frames, type: Self.self)
        try self.init(from: &reader)
        try reader.finish()
    }

    /// Decodes a message straight from frames borrowed from the receive buffers (no
    /// intermediate `[Frame]` copy); throws ``FrameDecodingError`` as ``init(frames:)-([Frame])`` does.
    @inlinable
    public init(frames: ReceivedFrames) throws {
        var reader = FrameReader(frames, type: Self.self)
        try self.init(from: &reader)
        try reader.finish()
    }
}
