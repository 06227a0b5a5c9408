import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq socket that owns its C handle: closed exactly once (by ``close(linger:)`` or at
/// deinit), with its linger always set explicitly before closing.
///
/// Not `Sendable`: a socket belongs to the thread (event loop) that created it.
public final class Socket {
    /// The socket's type.
    public let type: SocketType
    /// The context the socket was created in (kept alive until the socket is gone).
    public let context: ZMQContext
    /// A name used as the subject of send/receive errors (a channel name, or the type).
    @exclusivity(unchecked) public var name: String
    /// The raw `void *` handle, `nil` once closed.
    @exclusivity(unchecked) public private(set) var handle: UnsafeMutableRawPointer?
    /// Linger used when the socket is closed implicitly (deinit), in milliseconds.
    @exclusivity(unchecked) public var defaultLinger: Int32
    /// One reusable message buffer, so receiving allocates only the frames' bytes.
    private let message: UnsafeMutablePointer<zmq_msg_t>
    /// Reusable parts of the last message received by ``receiveBorrowed(dontWait:)`` (all
    /// initialised, `partCapacity` of them) and their bytes, handed out as ``ReceivedFrames``.
    @exclusivity(unchecked) private var parts: UnsafeMutablePointer<zmq_msg_t>
    @exclusivity(unchecked) private var slices: UnsafeMutablePointer<UnsafeRawBufferPointer>
    @exclusivity(unchecked) private var partCapacity: Int
    /// Whether a message was ever sent: only then can closing with a linger leave messages behind.
    @exclusivity(unchecked) var hasSent = false

    /// Creates a socket of `type` in `context` (the shared context when `nil`).
    /// - Parameter linger: linger applied at close (ms); also set on the socket right away.
    public init(_ type: SocketType, context: ZMQContext? = nil, linger: Int32 = 0, name: String? = nil) throws {
        let context = try context ?? ZMQContext.shared()
        guard let handle = zmq_socket(context.handle, type.zmqType) else {
            throw ZMQError.last("socket", type.rawValue)
        }
        self.type = type
        self.context = context
        self.handle = handle
        self.name = name ?? type.rawValue
        self.defaultLinger = linger
        message = .allocate(capacity: 1)
        zmq_msg_init(message)
        partCapacity = 1
        parts = .allocate(capacity: 1)
        zmq_msg_init(parts)
        slices = .allocate(capacity: 1)
        slices.initialize(to: UnsafeRawBufferPointer(start: nil, count: 0))
        var value = linger
        zmq_setsockopt(handle, ZMQ_LINGER, &value, MemoryLayout<Int32>.size)
    }

    deinit {
        close(linger: defaultLinger)
        zmq_msg_close(message)
        message.deallocate()
        for index in 0..<partCapacity { zmq_msg_close(parts + index) }
        parts.deallocate()
        slices.deallocate()
    }

    /// Whether ``close(linger:)`` has run.
    public var isClosed: Bool { handle == nil }

    @inline(__always)
    private func live(_ operation: @autoclosure () -> String, _ subject: @autoclosure () -> String) throws -> UnsafeMutableRawPointer {
        guard let handle else {
            throw ZMQError(operation: operation(), subject: subject(), code: ENOTSOCK, message: "socket is closed")
        }
        return handle
    }

    /// Sets the linger (ms) explicitly, then closes the socket. Idempotent.
    public func close(linger: Int32) {
        guard let handle else { return }
        if hasSent && linger != 0 { context.noteLingering(name, linger: linger) }
        var value = linger
        zmq_setsockopt(handle, ZMQ_LINGER, &value, MemoryLayout<Int32>.size)
        zmq_close(handle)
        self.handle = nil
    }

    /// Sets an option; throws ``ZDaemonError`` when it does not apply to this socket's type
    /// (`SUBSCRIBE does not apply to a PUSH socket`) and ``ZMQError`` when libzmq refuses it.
    public func setOption(_ option: SocketOption) throws {
        guard option.applies(to: type) else {
            throw ZDaemonError("\(option.name) does not apply to a \(type.rawValue) socket")
        }
        let handle = try live("setsockopt", option.name)
        let rc: Int32
        switch option {
        case .sendHWM(let v), .receiveHWM(let v), .linger(let v), .reconnectIvl(let v),
            .reconnectIvlMax(let v), .heartbeatIvl(let v), .heartbeatTtl(let v), .heartbeatTimeout(let v):
            var value = v
            rc = zmq_setsockopt(handle, option.code, &value, MemoryLayout<Int32>.size)
            if case .linger(let v) = option { defaultLinger = v }
        case .immediate(let b), .routerMandatory(let b), .tcpKeepalive(let b), .xpubNoDrop(let b):
            var value: Int32 = b ? 1 : 0
            rc = zmq_setsockopt(handle, option.code, &value, MemoryLayout<Int32>.size)
        case .maxMessageSize(let v):
            var value = v
            rc = zmq_setsockopt(handle, option.code, &value, MemoryLayout<Int64>.size)
        case .subscribe(let bytes), .unsubscribe(let bytes), .routingID(let bytes):
            rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option.code, $0.baseAddress, $0.count) }
        }
        if rc != 0 { throw ZMQError.last("setsockopt", "\(option.name) on \(name)") }
    }

    /// Binds to `endpoint` (`tcp://`, `ipc://`, `inproc://`) and returns the endpoint actually
    /// bound (ZMQ_LAST_ENDPOINT, e.g. the port chosen for `tcp://127.0.0.1:*`).
    @discardableResult
    public func bind(_ endpoint: String) throws -> String {
        let handle = try live("bind", endpoint)
        while zmq_bind(handle, endpoint) != 0 {
            if zmq_errno() != EINTR { throw ZMQError.last("bind", endpoint) }
        }
        return (try? lastEndpoint()) ?? endpoint
    }

    /// Connects to `endpoint`.
    public func connect(_ endpoint: String) throws {
        let handle = try live("connect", endpoint)
        while zmq_connect(handle, endpoint) != 0 {
            if zmq_errno() != EINTR { throw ZMQError.last("connect", endpoint) }
        }
    }

    /// Stops listening on a bound `endpoint`.
    public func unbind(_ endpoint: String) throws {
        let handle = try live("unbind", endpoint)
        if zmq_unbind(handle, endpoint) != 0 { throw ZMQError.last("unbind", endpoint) }
    }

    /// Disconnects from a connected `endpoint`.
    public func disconnect(_ endpoint: String) throws {
        let handle = try live("disconnect", endpoint)
        if zmq_disconnect(handle, endpoint) != 0 { throw ZMQError.last("disconnect", endpoint) }
    }

    /// ZMQ_LAST_ENDPOINT: the last endpoint bound or connected, with wildcards resolved.
    public func lastEndpoint() throws -> String {
        let handle = try live("getsockopt", "LAST_ENDPOINT")
        var buffer = [CChar](repeating: 0, count: 1024)
        var size = buffer.count
        if zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) != 0 {
            throw ZMQError.last("getsockopt", "LAST_ENDPOINT on \(name)")
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// ZMQ_EVENTS: what the socket is ready for right now.
    public func events() throws -> PollEvents {
        let handle = try live("getsockopt", "EVENTS")
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(handle, ZMQ_EVENTS, &value, &size) != 0 {
            throw ZMQError.last("getsockopt", "EVENTS on \(name)")
        }
        return PollEvents(rawValue: Int16(truncatingIfNeeded: value))
    }

    // MARK: Sending

    @usableFromInline nonisolated(unsafe) static let emptyByte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

    /// Sends a multipart message. Returns `false` when `dontWait` is set and the socket cannot
    /// take the message now (EAGAIN: nothing was sent). libzmq sends multipart atomically, so a
    /// message whose first frame was accepted is always completed.
    @discardableResult
    public func send(_ frames: [Frame], dontWait: Bool = false) throws -> Bool {
        guard !frames.isEmpty else { throw ZDaemonError("send on \(name): a message needs at least one frame") }
        let handle = try live("send", name)
        let last = frames.count - 1
        var index = 0
        while index <= last {
            var flags: Int32 = index < last ? ZMQ_SNDMORE : 0
            if dontWait && index == 0 { flags |= ZMQ_DONTWAIT }
            let rc = frames[index].withUnsafeBytes { buffer in
                zmq_send(handle, buffer.baseAddress ?? UnsafeRawPointer(Socket.emptyByte), buffer.count, flags)
            }
            if rc < 0 {
                let code = zmq_errno()
                if code == EINTR { continue }
                if code == EAGAIN && index == 0 && dontWait { return false }
                throw ZMQError(operation: "send", subject: name, code: code)
            }
            index += 1
        }
        hasSent = true
        return true
    }

    // MARK: Receiving

    /// The most frames one received message may have; a bigger message is read to its end,
    /// discarded, and reported by the receive call as ``OversizedMessageError``. A daemon sets
    /// it from the channel's `maxParts` option.
    @exclusivity(unchecked) public var maxParts = Int.max
    /// The most bytes one received message may have in all its frames (handled as ``maxParts``);
    /// from the channel's `maxTotalSize` option.
    @exclusivity(unchecked) public var maxTotalSize = Int.max

    /// Reads and discards the rest of a message whose first `parts` frames (`bytes` in all)
    /// were taken, the last into `part`; throws the ``OversizedMessageError`` describing it.
    private func discardOversized(_ part: UnsafeMutablePointer<zmq_msg_t>, _ handle: UnsafeMutableRawPointer,
                                  parts: Int, bytes: Int) throws -> Never {
        var (parts, bytes) = (parts, bytes)
        while zmq_msg_more(part) != 0 {
            let received = zmq_msg_recv(part, handle, 0)
            if received < 0 {
                if zmq_errno() == EINTR { continue }
                throw ZMQError(operation: "receive", subject: name, code: zmq_errno())
            }
            parts += 1
            bytes += Int(received)
        }
        throw OversizedMessageError(socket: name, parts: parts, bytes: bytes, maxParts: maxParts, maxTotalSize: maxTotalSize)
    }

    /// Receives one whole multipart message into `frames`, replacing its contents (its buffer
    /// is reused when nothing else holds it, so a steady stream allocates only frame bytes).
    /// Returns `false` when `dontWait` is set and nothing is waiting (EAGAIN; `frames` is then
    /// untouched). Frames of any size are received completely (zmq_msg_t based, no truncation).
    public func receive(into frames: inout [Frame], dontWait: Bool) throws -> Bool {
        let handle = try live("receive", name)
        var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        var used = 0
        var total = 0
        while true {
            if zmq_msg_recv(message, handle, flags) < 0 {
                let code = zmq_errno()
                if code == EINTR { continue }
                if code == EAGAIN && used == 0 && dontWait { return false }
                throw ZMQError(operation: "receive", subject: name, code: code)
            }
            let size = zmq_msg_size(message)
            total &+= size
            if used >= maxParts || total > maxTotalSize {
                if used < frames.count { frames.removeLast(frames.count - used) }
                try discardOversized(message, handle, parts: used + 1, bytes: total)
            }
            let bytes = UnsafeRawBufferPointer(start: size == 0 ? nil : zmq_msg_data(message), count: size)
            if used < frames.count, frames[used].capacity >= size, frames[used].capacity <= max(size &* 4, 65_536) {
                // Overwrite the previous message's frame in place: no allocation when nothing
                // else holds it (a handler that kept it gets copy-on-write, as usual).
                if frames[used].count == size {
                    frames[used].withUnsafeMutableBytes { $0.copyMemory(from: bytes) }
                } else {
                    frames[used].replaceSubrange(frames[used].startIndex..., with: bytes)
                }
            } else {
                let frame = size == 0 ? [] : [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
                    UnsafeMutableRawBufferPointer(buffer).copyMemory(from: bytes)
                    count = size
                }
                if used < frames.count { frames[used] = frame } else { frames.append(frame) }
            }
            used += 1
            if zmq_msg_more(message) == 0 { break }
            flags = 0  // the rest of a multipart message is already here
        }
        if used < frames.count { frames.removeLast(frames.count - used) }
        return true
    }

    /// Receives one whole multipart message without copying it: the frames stay in libzmq's
    /// buffers and are lent out until the next ``receiveBorrowed(dontWait:)`` on this socket
    /// (or its close). Returns `nil` when `dontWait` is set and nothing is waiting (EAGAIN).
    /// This is the runtime's fast path: no allocation for any frame size.
    @inline(__always)
    public func receiveBorrowed(dontWait: Bool) throws -> ReceivedFrames? {
        let handle = try live("receive", name)
        var flags: Int32 = dontWait ? ZMQ_DONTWAIT : 0
        var used = 0
        var total = 0
        while true {
            if used == partCapacity { growParts() }
            let part = parts + used
            let received = zmq_msg_recv(part, handle, flags)
            if received < 0 {
                let code = zmq_errno()
                if code == EINTR { continue }
                if code == EAGAIN && used == 0 && dontWait { return nil }
                throw ZMQError(operation: "receive", subject: name, code: code)
            }
            let size = Int(received)  // zmq_msg_recv returns the part's size
            total &+= size
            if used >= maxParts || total > maxTotalSize {
                try discardOversized(part, handle, parts: used + 1, bytes: total)
            }
            slices[used] = UnsafeRawBufferPointer(start: size == 0 ? nil : zmq_msg_data(part), count: size)
            used += 1
            if zmq_msg_more(part) == 0 { break }
            flags = 0  // the rest of a multipart message is already here
        }
        return ReceivedFrames(base: slices, count: used)
    }

    @inline(never)  // rare: kept out of the receive loop
    private func growParts() {
        let capacity = partCapacity * 2
        let grown = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: capacity)
        for index in 0..<capacity { zmq_msg_init(grown + index) }
        for index in 0..<partCapacity {
            zmq_msg_move(grown + index, parts + index)
            zmq_msg_close(parts + index)
        }
        parts.deallocate()
        parts = grown
        let grownSlices = UnsafeMutablePointer<UnsafeRawBufferPointer>.allocate(capacity: capacity)
        grownSlices.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0), count: capacity)
        // Moved parts may keep small frames inline, so their bytes have moved too.
        for index in 0..<partCapacity {
            let size = zmq_msg_size(grown + index)
            grownSlices[index] = UnsafeRawBufferPointer(start: size == 0 ? nil : zmq_msg_data(grown + index), count: size)
        }
        slices.deallocate()
        slices = grownSlices
        partCapacity = capacity
    }

    /// Receives one multipart message; `nil` when `dontWait` is set and nothing is waiting.
    public func receive(dontWait: Bool = false) throws -> [Frame]? {
        var frames: [Frame] = []
        return try receive(into: &frames, dontWait: dontWait) ? frames : nil
    }

    /// Waits up to `timeout` for a message; `nil` when none arrived in time.
    public func receive(timeout: Duration) throws -> [Frame]? {
        guard try poll(.readable, timeout: timeout).contains(.readable) else { return nil }
        return try receive(dontWait: true)
    }

    /// Waits up to `timeout` (nil = forever) for any of `events`; returns those that are ready.
    public func poll(_ events: PollEvents, timeout: Duration?) throws -> PollEvents {
        let handle = try live("poll", name)
        var item = zmq_pollitem_t(socket: handle, fd: 0, events: events.rawValue, revents: 0)
        let ms: Int = timeout.map { Int($0.milliseconds) } ?? -1
        while zmq_poll(&item, 1, ms) < 0 {
            if zmq_errno() != EINTR { throw ZMQError.last("poll", name) }
        }
        return PollEvents(rawValue: item.revents)
    }
}

extension Duration {
    /// Whole milliseconds, rounded up so a positive duration never becomes 0.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        // Saturates instead of overflowing (a timeout of `.seconds(.max)` means "very long").
        guard seconds < Int64.max / 1000 - 1 else { return Int64.max / 2 }
        guard seconds > Int64.min / 1000 + 1 else { return Int64.min / 2 }
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let remainder = attoseconds % 1_000_000_000_000_000
        return remainder > 0 ? ms + 1 : ms
    }

    /// Whole nanoseconds.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
