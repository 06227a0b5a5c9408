import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A connection-level event of a socket, from libzmq's stable monitor (no DRAFT events).
public enum SocketEvent: Sendable, Equatable, CustomStringConvertible {
    /// A bind succeeded; the socket is listening on the endpoint.
    case listening(endpoint: String)
    /// A bind failed (the errno is in `code`).
    case bindFailed(endpoint: String, code: Int32)
    /// A peer connected to a bound endpoint.
    case accepted(endpoint: String)
    /// Accepting a connection failed.
    case acceptFailed(endpoint: String, code: Int32)
    /// An outgoing connection was established.
    case connected(endpoint: String)
    /// An outgoing connect did not complete immediately and is pending.
    case connectDelayed(endpoint: String)
    /// A reconnect is scheduled after `milliseconds`.
    case connectRetried(endpoint: String, milliseconds: Int)
    /// A connection or listener was closed.
    case closed(endpoint: String)
    /// Closing failed.
    case closeFailed(endpoint: String, code: Int32)
    /// A peer's connection was lost.
    case disconnected(endpoint: String)
    /// The ZMTP handshake (and security, if any) completed.
    case handshakeSucceeded(endpoint: String)
    /// The handshake failed without detail.
    case handshakeFailedNoDetail(endpoint: String)
    /// The handshake failed with a protocol error (`code` is libzmq's ZMQ_PROTOCOL_ERROR_*).
    case handshakeFailedProtocol(endpoint: String, code: Int)
    /// The handshake failed authentication (`statusCode` is the ZAP status, e.g. 400).
    case handshakeFailedAuthentication(endpoint: String, statusCode: Int)
    /// Monitoring has stopped.
    case monitorStopped

    init?(event: UInt16, value: UInt32, endpoint: String) {
        switch Int32(event) {
        case ZMQ_EVENT_LISTENING: self = .listening(endpoint: endpoint)
        case ZMQ_EVENT_BIND_FAILED: self = .bindFailed(endpoint: endpoint, code: Int32(bitPattern: value))
        case ZMQ_EVENT_ACCEPTED: self = .accepted(endpoint: endpoint)
        case ZMQ_EVENT_ACCEPT_FAILED: self = .acceptFailed(endpoint: endpoint, code: Int32(bitPattern: value))
        case ZMQ_EVENT_CONNECTED: self = .connected(endpoint: endpoint)
        case ZMQ_EVENT_CONNECT_DELAYED: self = .connectDelayed(endpoint: endpoint)
        case ZMQ_EVENT_CONNECT_RETRIED: self = .connectRetried(endpoint: endpoint, milliseconds: Int(value))
        case ZMQ_EVENT_CLOSED: self = .closed(endpoint: endpoint)
        case ZMQ_EVENT_CLOSE_FAILED: self = .closeFailed(endpoint: endpoint, code: Int32(bitPattern: value))
        case ZMQ_EVENT_DISCONNECTED: self = .disconnected(endpoint: endpoint)
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: self = .handshakeSucceeded(endpoint: endpoint)
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: self = .handshakeFailedNoDetail(endpoint: endpoint)
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL: self = .handshakeFailedProtocol(endpoint: endpoint, code: Int(value))
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: self = .handshakeFailedAuthentication(endpoint: endpoint, statusCode: Int(value))
        case ZMQ_EVENT_MONITOR_STOPPED: self = .monitorStopped
        default: return nil
        }
    }

    /// The endpoint the event is about (empty for `monitorStopped`).
    public var endpoint: String {
        switch self {
        case .listening(let e), .bindFailed(let e, _), .accepted(let e), .acceptFailed(let e, _), .connected(let e),
            .connectDelayed(let e), .connectRetried(let e, _), .closed(let e), .closeFailed(let e, _),
            .disconnected(let e), .handshakeSucceeded(let e), .handshakeFailedNoDetail(let e),
            .handshakeFailedProtocol(let e, _), .handshakeFailedAuthentication(let e, _):
            e
        case .monitorStopped: ""
        }
    }

    /// Whether the event is a failure worth a warning.
    public var isFailure: Bool {
        switch self {
        case .bindFailed, .acceptFailed, .closeFailed, .handshakeFailedNoDetail, .handshakeFailedProtocol,
            .handshakeFailedAuthentication:
            true
        default: false
        }
    }

    /// e.g. `connected tcp://127.0.0.1:5555`, `handshake failed (authentication, status 400) …`.
    public var description: String {
        switch self {
        case .listening(let e): "listening on \(e)"
        case .bindFailed(let e, let code): "bind failed on \(e): \(String(cString: zmq_strerror(code)))"
        case .accepted(let e): "accepted on \(e)"
        case .acceptFailed(let e, let code): "accept failed on \(e): \(String(cString: zmq_strerror(code)))"
        case .connected(let e): "connected to \(e)"
        case .connectDelayed(let e): "connect delayed to \(e)"
        case .connectRetried(let e, let ms): "connect to \(e) retried in \(ms) ms"
        case .closed(let e): "closed \(e)"
        case .closeFailed(let e, let code): "close failed on \(e): \(String(cString: zmq_strerror(code)))"
        case .disconnected(let e): "disconnected from \(e)"
        case .handshakeSucceeded(let e): "handshake succeeded with \(e)"
        case .handshakeFailedNoDetail(let e): "handshake failed with \(e)"
        case .handshakeFailedProtocol(let e, let code): "handshake failed with \(e) (\(SocketEvent.protocolErrorName(code)))"
        case .handshakeFailedAuthentication(let e, let status): "handshake failed with \(e) (authentication, status \(status))"
        case .monitorStopped: "monitor stopped"
        }
    }
}

/// Observes a socket's connection events through libzmq's monitor: an inproc PAIR socket fed
/// by `zmq_socket_monitor`. Loop-thread object; poll ``socket`` or call ``next(dontWait:)``.
public final class SocketMonitor {
    /// The PAIR socket the events arrive on (register it with an ``EventLoop``).
    public let socket: Socket
    private weak var monitored: Socket?
    private var frames: [Frame] = []

    /// Starts monitoring `target` (all stable events); the monitor lives in the same context.
    public init(_ target: Socket) throws {
        guard let handle = target.handle else {
            throw ZMQError(operation: "monitor", subject: target.name, code: ENOTSOCK, message: "socket is closed")
        }
        var bytes = [UInt8](repeating: 0, count: 8)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
        let endpoint = "inproc://zdaemon-monitor-\(bytes.map { String($0, radix: 16) }.joined())"
        let mask = ZMQ_EVENT_ALL
        if zmq_socket_monitor(handle, endpoint, mask) != 0 {
            throw ZMQError.last("monitor", target.name)
        }
        let pair = try Socket(.pair, context: target.context, linger: 0, name: "\(target.name) monitor")
        try pair.connect(endpoint)
        socket = pair
        monitored = target
    }

    deinit { stop() }

    /// Stops monitoring and closes the monitor socket. Idempotent.
    public func stop() {
        if let handle = monitored?.handle { _ = zmq_socket_monitor(handle, nil, 0) }
        monitored = nil
        socket.close(linger: 0)
    }

    /// The next event; `nil` when `dontWait` is set and none is waiting.
    public func next(dontWait: Bool = true) throws -> SocketEvent? {
        while try socket.receive(into: &frames, dontWait: dontWait) {
            guard frames.count == 2, frames[0].count == 6 else { continue }
            let header = frames[0]
            // Native byte order (libzmq writes a uint16 then a uint32 with memcpy).
            let event = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt16.self) }
            let value = header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 2, as: UInt32.self) }
            if let decoded = SocketEvent(event: event, value: value, endpoint: String(decoding: frames[1], as: UTF8.self)) {
                return decoded
            }
        }
        return nil
    }

    /// Waits up to `timeout` for the next event.
    public func next(timeout: Duration) throws -> SocketEvent? {
        guard try socket.poll(.readable, timeout: timeout).contains(.readable) else { return nil }
        return try next(dontWait: true)
    }
}
