import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a message's frames straight to a socket, each from the value it encodes: no `[Frame]`
/// array and no per-frame copy on the Swift side (libzmq copies the bytes once, as C's
/// `zmq_send` does). Generated `sendFrames(to:)` methods drive it; the runtime hands one out only
/// when the channel's queue is empty.
///
/// The first frame is offered without blocking. If the socket cannot take it, nothing has been
/// sent, ``refused`` is set, the later frames are skipped, and the runtime queues the message
/// instead. Once the first frame is in, libzmq takes the rest of the message.
public struct FrameSender: ~Copyable {
    @usableFromInline let handle: UnsafeMutableRawPointer
    // The socket, for its name in errors only; the runtime keeps it alive while the sender
    // exists (no reference counting per message).
    @usableFromInline unowned(unsafe) let socket: Socket
    @usableFromInline var started = false
    @usableFromInline var notTaken = false

    /// The socket could not take the first frame now: nothing was sent.
    public var refused: Bool { notTaken }

    @usableFromInline init(handle: UnsafeMutableRawPointer, socket: Socket) {
        self.handle = handle
        self.socket = socket
    }

    @usableFromInline func failure(_ code: Int32) -> ZMQError {
        ZMQError(operation: "send", subject: socket.name, code: code)
    }

    /// Sends `count` bytes at `start` as one frame; `more` when frames follow.
    @inlinable @inline(__always)
    public mutating func raw(_ start: UnsafeRawPointer?, count: Int, more: Bool) throws {
        if notTaken { return }
        var flags: Int32 = more ? ZMQ_SNDMORE : 0
        if !started { flags |= ZMQ_DONTWAIT }
        while zmq_send(handle, start ?? UnsafeRawPointer(Socket.emptyByte), count, flags) < 0 {
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN && !started {
                notTaken = true
                return
            }
            throw failure(code)
        }
        started = true
    }

    /// A UTF-8 string frame.
    @inlinable @inline(__always)
    public mutating func string(_ value: String, more: Bool) throws {
        // Native strings lend their UTF-8 in place; only another kind is copied first.
        let sent: Void? = try value.utf8.withContiguousStorageIfAvailable { try raw($0.baseAddress, count: $0.count, more: more) }
        if sent == nil {
            var copy = value
            try copy.withUTF8 { try raw($0.baseAddress, count: $0.count, more: more) }
        }
    }

    /// A raw bytes frame.
    @inlinable @inline(__always)
    public mutating func bytes(_ value: [UInt8], more: Bool) throws {
        try value.withUnsafeBytes { try raw($0.baseAddress, count: $0.count, more: more) }
    }

    /// A frame already encoded (a JSON frame, encoded before the first frame is sent).
    @inlinable @inline(__always)
    public mutating func frame(_ value: Frame, more: Bool) throws {
        try bytes(value, more: more)
    }

    /// A 1-byte boolean frame: 0 or 1.
    @inlinable @inline(__always)
    public mutating func bool(_ value: Bool, more: Bool) throws {
        try integer(UInt8(value ? 1 : 0), more: more)
    }

    /// A big-endian integer frame of exactly `T`'s width.
    @inlinable @inline(__always)
    public mutating func integer<T: FixedWidthInteger>(_ value: T, more: Bool) throws {
        var bigEndian = value.bigEndian
        try withUnsafeBytes(of: &bigEndian) { try raw($0.baseAddress, count: $0.count, more: more) }
    }

    /// An IEEE 754 big-endian 4-byte float frame.
    @inlinable @inline(__always)
    public mutating func float(_ value: Float, more: Bool) throws {
        try integer(value.bitPattern, more: more)
    }

    /// An IEEE 754 big-endian 8-byte double frame.
    @inlinable @inline(__always)
    public mutating func double(_ value: Double, more: Bool) throws {
        try integer(value.bitPattern, more: more)
    }
}

extension FrameMessage {
    /// Writes the frames of ``encodeFrames()``: for messages that do not write their own.
    @inlinable
    public func sendFrames(to out: inout FrameSender) throws {
        let frames = try encodeFrames()
        for (index, frame) in frames.enumerated() { try out.frame(frame, more: index < frames.count - 1) }
    }
}
