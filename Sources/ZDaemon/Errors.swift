import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed libzmq call: the operation, what it was applied to and libzmq's own text.
///
/// Its description reads like `bind tcp://*:9090: Address already in use`.
public struct ZMQError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation that failed, e.g. `bind`, `connect`, `send`, `setsockopt`.
    public var operation: String
    /// What the operation was applied to, e.g. an endpoint or a channel name.
    public var subject: String
    /// The `errno` value libzmq reported.
    public var code: Int32
    /// libzmq's text for `code` (`zmq_strerror`).
    public var message: String

    /// Creates an error from its parts; `message` defaults to `zmq_strerror(code)`.
    public init(operation: String, subject: String, code: Int32, message: String? = nil) {
        self.operation = operation
        self.subject = subject
        self.code = code
        self.message = message ?? String(cString: zmq_strerror(code))
    }

    /// `<operation> <subject>: <message>`.
    public var description: String {
        subject.isEmpty ? "\(operation): \(message)" : "\(operation) \(subject): \(message)"
    }

    /// True when the context was terminated underneath the call (ETERM): the loop ends cleanly.
    public var isContextTerminated: Bool { code == ETERM }

    /// Builds the error from `zmq_errno()` right after a failed call.
    package static func last(_ operation: String, _ subject: String) -> ZMQError {
        ZMQError(operation: operation, subject: subject, code: zmq_errno())
    }
}

/// A misuse of the runtime that libzmq itself would not (clearly) report, such as setting an
/// option that does not apply to a socket type or sending twice on a REQ channel.
public struct ZDaemonError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Human-readable explanation naming the channel/option/socket type involved.
    public var message: String
    /// Creates an error with the given explanation.
    public init(_ message: String) { self.message = message }
    /// The explanation.
    public var description: String { message }
}

/// No reply to a request in time: on a REQ channel (whose socket is then reopened, Lazy Pirate)
/// or a DEALER request channel (where a later reply counts as `late`).
public struct RequestTimeout: Error, Sendable, Equatable, CustomStringConvertible {
    /// The channel's name.
    public var channel: String
    /// The timeout that elapsed, in milliseconds.
    public var milliseconds: Int
    /// Creates a timeout value.
    public init(channel: String, milliseconds: Int) {
        self.channel = channel
        self.milliseconds = milliseconds
    }
    /// `no reply on <channel> within <ms> ms`.
    public var description: String { "no reply on \(channel) within \(milliseconds) ms" }
}

/// A send found the channel's own send queue full (the socket was at its high-water mark and
/// the channel's `queue` bound of waiting messages was reached too).
public struct ChannelFullError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The channel's name.
    public var channel: String
    /// The queue bound that was reached.
    public var queued: Int
    /// Creates the error.
    public init(channel: String, queued: Int) {
        self.channel = channel
        self.queued = queued
    }
    /// `channel <name> is full (<n> messages queued)`.
    public var description: String { "channel \(channel) is full (\(queued) messages queued)" }
}

/// A received message over its channel's `maxParts` or `maxTotalSize`: the runtime read it to
/// its end and dropped it (counted as `dropped`), since libzmq bounds only each frame.
public struct OversizedMessageError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The socket's (channel's) name.
    public var socket: String
    /// How many frames the message had.
    public var parts: Int
    /// How many bytes it had in all.
    public var bytes: Int
    /// The frame limit it was held to.
    public var maxParts: Int
    /// The byte limit it was held to.
    public var maxTotalSize: Int

    /// Creates the error.
    public init(socket: String, parts: Int, bytes: Int, maxParts: Int, maxTotalSize: Int) {
        self.socket = socket
        self.parts = parts
        self.bytes = bytes
        self.maxParts = maxParts
        self.maxTotalSize = maxTotalSize
    }

    /// `100 frames, 5242880 bytes (limits: maxParts 64, maxTotalSize 4194304)`.
    public var description: String {
        "\(parts) frames, \(bytes) bytes (limits: maxParts \(maxParts), maxTotalSize \(maxTotalSize))"
    }
}
