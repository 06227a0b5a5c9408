import ZDaemon
import Foundation
import CZeroMQ
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The control channel: every daemon of an app SUBs to one endpoint and obeys the commands
/// published there (`TERM`: terminate). Whoever sends binds an XPUB on the endpoint for a
/// moment, so daemons connect (and keep reconnecting) and no daemon binds.
public enum ControlChannel {
    /// The command that terminates daemons.
    public static let terminate = "TERM"
    /// Every command a daemon obeys.
    public static let commands: Set<String> = [terminate]
    /// The longest command a daemon reads, in bytes; a longer one is ignored (counted, logged).
    public static let maxCommandBytes = 64
    /// The most lines a daemon logs about ignored commands per second; the rest are counted and
    /// the next line says how many.
    public static let ignoredLinesPerSecond = 1

    /// Checks, before anyone connects or binds, that an `ipc://` control endpoint lies in a
    /// directory only this user may write, as OpenSSH's StrictModes does for keys: the directory
    /// (created with mode 0700 when missing) must be a real directory owned by this uid, not
    /// writable by group or others, and a socket file already there must be this uid's. Other
    /// transports are not checked (tcp has no uid: keep such an endpoint on a private network).
    public static func checkPrivate(_ endpoint: String) throws(ConfigurationError) {
        guard endpoint.hasPrefix("ipc://") else { return }
        let path = String(endpoint.dropFirst(6))
        let origin = "control endpoint \(endpoint)"
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = String(path[..<slash])
        let uid = getuid()
        var info = stat()
        if lstat(directory, &info) != 0 {
            guard errno == ENOENT, mkdir(directory, 0o700) == 0 || errno == EEXIST, lstat(directory, &info) == 0 else {
                throw ConfigurationError(origin: origin, message: "cannot create the directory \(directory): \(String(cString: strerror(errno)))")
            }
        }
        let type = info.st_mode & S_IFMT
        guard type != S_IFLNK else {
            throw ConfigurationError(origin: origin, message: "the directory \(directory) is a symbolic link; the control channel needs a private directory")
        }
        guard type == S_IFDIR else { throw ConfigurationError(origin: origin, message: "\(directory) is not a directory") }
        guard info.st_uid == uid else {
            throw ConfigurationError(origin: origin, message: "the directory \(directory) belongs to uid \(info.st_uid), not to this uid (\(uid)): anyone who can write it could stop the daemons")
        }
        guard info.st_mode & 0o022 == 0 else {
            throw ConfigurationError(origin: origin, message: "the directory \(directory) is writable by group or others (mode \(String(info.st_mode & 0o7777, radix: 8))): make it 0700")
        }
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFSOCK, info.st_uid == uid else {
                throw ConfigurationError(origin: origin, message: "\(path) exists and is not a socket of this uid (\(uid))")
            }
        }
    }

    /// What ``lockInstance(_:)`` found.
    public enum InstanceLock: Sendable, Equatable {
        /// This process holds the lock until it exits (the descriptor stays open, close-on-exec).
        case held
        /// Another process holds it: a launcher of the same instance runs (its pid, if known).
        case taken(by: Int32?)
        /// Not an ipc endpoint: there is no file to lock (keep such endpoints distinct by hand).
        case notApplicable
    }

    /// Takes the lock that makes one launcher at a time the owner of the control endpoint
    /// `endpoint`: `flock` on `<socket path>.lock` (created 0600, holding the owner's pid), so two
    /// launchers of one instance cannot both answer to its `TERM`. Call after
    /// ``checkPrivate(_:)``. Released by the kernel when the process ends, however it ends.
    public static func lockInstance(_ endpoint: String) throws(ConfigurationError) -> InstanceLock {
        guard endpoint.hasPrefix("ipc://") else { return .notApplicable }
        let path = String(endpoint.dropFirst(6)) + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else {
            throw ConfigurationError(origin: "control endpoint \(endpoint)", message: "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var bytes = [UInt8](repeating: 0, count: 16)
            let count = read(fd, &bytes, bytes.count)
            close(fd)
            let owner = count > 0 ? Int32(String(decoding: bytes.prefix(count), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) : nil
            return .taken(by: owner)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBufferPointer { pwrite(fd, $0.baseAddress, $0.count, 0) }
        // Deliberately left open: the lock lasts as long as this process.
        return .held
    }

    /// The uid in a message's `Peer-Address` over ipc (`host:uid:gid:pid` on Linux), if any.
    static func peerUID(_ address: String) -> UInt32? {
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return nil }
        return UInt32(parts[parts.count - 3])
    }

    /// `text` made safe for one log line: control characters and non-ASCII as `\xNN`, cut to
    /// ``maxCommandBytes`` (then `… (N bytes)`).
    public static func escaped(_ text: String) -> String {
        escaped(Array(text.utf8))
    }

    static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        for byte in bytes.prefix(maxCommandBytes) {
            if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\\") {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "\\x" + (byte < 16 ? "0" : "") + String(byte, radix: 16)
            }
        }
        if bytes.count > maxCommandBytes { out += "… (\(bytes.count) bytes)" }
        return out
    }

    /// A daemon's subscription to the control endpoint, registered on its loop.
    public final class Subscription {
        private let socket: Socket
        private var registration: PollRegistration?
        private unowned let daemon: Daemon

        /// Over ipc, the one uid whose commands are obeyed (this process's): libzmq tells the
        /// sender's uid with each message (`Peer-Address`).
        private let requiredUID: UInt32?

        /// Run on the daemon's loop when a `TERM` is obeyed, before the daemon terminates.
        private let onTerminate: (() -> Void)?

        init(daemon: Daemon, socket: Socket, requiredUID: UInt32?, onTerminate: (() -> Void)?) {
            self.daemon = daemon
            self.socket = socket
            self.requiredUID = requiredUID
            self.onTerminate = onTerminate
        }

        /// One waiting message's frames and its sender's `Peer-Address`; `nil` when none waits.
        private func receiveCommand() -> (frames: [[UInt8]], peer: String?)? {
            var frames: [[UInt8]] = []
            var peer: String?
            var more = true
            while more {
                var message = zmq_msg_t()
                zmq_msg_init(&message)
                defer { zmq_msg_close(&message) }
                guard zmq_msg_recv(&message, socket.handle, frames.isEmpty ? ZMQ_DONTWAIT : 0) >= 0 else {
                    return frames.isEmpty ? nil : (frames, peer)
                }
                if peer == nil, let address = zmq_msg_gets(&message, "Peer-Address") { peer = String(cString: address) }
                frames.append(Array(UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: zmq_msg_size(&message))))
                more = zmq_msg_more(&message) != 0
            }
            return (frames, peer)
        }

        /// Unregisters and closes the socket (after the daemon's loop has ended).
        public func close() {
            if let registration { daemon.loop.unregister(registration) }
            registration = nil
            socket.close(linger: 0)
        }

        func register() {
            registration = daemon.loop.register(socket, events: .readable, name: "control") { [weak self] _ in
                self?.drain()
            }
        }

        /// Commands ignored (unknown, oversized or multipart) since the subscription began.
        public private(set) var ignoredCommands = 0
        private var suppressed = 0
        private var lastLine: ContinuousClock.Instant?

        private func drain() {
            // Bounded per wake-up, so a flood cannot hold the loop.
            for _ in 0..<256 {
                guard let (frames, peer) = receiveCommand() else { return }
                let bytes = frames.first ?? []
                if let requiredUID, peer.flatMap(ControlChannel.peerUID) != requiredUID {
                    ignore(bytes, parts: frames.count, from: peer.flatMap(ControlChannel.peerUID).map { "uid \($0)" } ?? "an unknown sender")
                } else if frames.count == 1, bytes == Array(ControlChannel.terminate.utf8) {
                    daemon.logger.info("\(daemon.spec.name) has received \(ControlChannel.terminate) on the control channel")
                    onTerminate?()
                    daemon.terminate()
                } else {
                    ignore(bytes, parts: frames.count)
                }
            }
        }

        /// Counts an ignored command and logs it, escaped and cut, at most once a second.
        private func ignore(_ bytes: [UInt8], parts: Int, from sender: String? = nil) {
            ignoredCommands += 1
            let now = ContinuousClock.now
            if let lastLine, now - lastLine < .seconds(1) / ControlChannel.ignoredLinesPerSecond {
                suppressed += 1
                return
            }
            lastLine = now
            let more = suppressed > 0 ? " (and \(suppressed) more since the last such line)" : ""
            suppressed = 0
            let shape = parts > 1 ? " in \(parts) parts" : ""
            if let sender {
                daemon.logger.warning("\(daemon.spec.name) ignores control command '\(ControlChannel.escaped(bytes))' from \(sender): only uid \(getuid()) may send\(more)")
            } else {
                daemon.logger.warning("\(daemon.spec.name) ignores unknown control command '\(ControlChannel.escaped(bytes))'\(shape)\(more)")
            }
        }
    }

    /// Subscribes `daemon` to `endpoint` (call on the daemon's thread, before it runs). The
    /// socket lives on the daemon's loop and shares its context; close the subscription after
    /// ``Daemon/run()`` returns. `onTerminate` runs on the loop when a `TERM` is obeyed.
    public static func subscribe(_ daemon: Daemon, to endpoint: String, onTerminate: (() -> Void)? = nil) throws -> Subscription {
        try checkPrivate(endpoint)
        let context = try daemon.configuration.context ?? ZMQContext.shared()
        let socket = try Socket(.sub, context: context, linger: 0, name: "control")
        do {
            try socket.setOption(.subscribe([]))
            // libzmq drops (and disconnects) a sender of bigger frames; commands are a few bytes.
            var limit: Int64 = 4096
            if zmq_setsockopt(socket.handle, ZMQ_MAXMSGSIZE, &limit, MemoryLayout<Int64>.size) != 0 {
                throw ZMQError(operation: "setsockopt MAXMSGSIZE", subject: endpoint, code: zmq_errno())
            }
            // Nobody binds the endpoint until a command is sent: retry connecting with backoff
            // up to once a second instead of every 100 ms (a sender waits up to 5 s).
            try socket.setOption(.reconnectIvlMax(1000))
            try socket.connect(endpoint)
        } catch {
            socket.close(linger: 0)
            throw error
        }
        let subscription = Subscription(daemon: daemon, socket: socket, requiredUID: endpoint.hasPrefix("ipc://") ? getuid() : nil,
                                        onTerminate: onTerminate)
        subscription.register()
        return subscription
    }

    /// The result of a broadcast.
    public struct BroadcastResult: Sendable, Equatable {
        /// How many subscriptions arrived before the command was sent.
        public var subscribers: Int
        /// How many were expected.
        public var expected: Int
    }

    /// Publishes `command` to every daemon subscribed to `endpoint`, avoiding the slow-joiner
    /// loss: binds an XPUB (verbose, so every subscriber's subscription is seen), waits until
    /// `expected` subscriptions have arrived or `timeout` passed, then sends and lingers up to
    /// one second for delivery. Throws ``ZMQError`` when the endpoint cannot be bound.
    public static func broadcast(
        _ command: String = ControlChannel.terminate, to endpoint: String, expected: Int, timeout: Duration = .seconds(5)
    ) throws -> BroadcastResult {
        try checkPrivate(endpoint)
        let context = try ZMQContext()
        let socket = try Socket(.xpub, context: context, linger: 1000, name: "control")
        defer { socket.close(linger: 1000) }
        var verbose: Int32 = 1
        if zmq_setsockopt(socket.handle, ZMQ_XPUB_VERBOSE, &verbose, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError(operation: "setsockopt XPUB_VERBOSE", subject: endpoint, code: zmq_errno())
        }
        _ = try socket.bind(endpoint)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var subscribers = 0
        while subscribers < expected {
            let left = deadline - clock.now
            if left <= .zero { break }
            guard let frames = try socket.receive(timeout: left) else { break }
            if let first = frames.first, first.first == 1 { subscribers += 1 }
        }
        _ = try socket.send([Array(command.utf8)])
        return BroadcastResult(subscribers: subscribers, expected: expected)
    }
}
