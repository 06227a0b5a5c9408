import ZDaemon
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

    /// A daemon's subscription to the control endpoint, registered on its loop.
    public final class Subscription {
        private let socket: Socket
        private var registration: PollRegistration?
        private unowned let daemon: Daemon

        init(daemon: Daemon, socket: Socket) {
            self.daemon = daemon
            self.socket = socket
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

        private func drain() {
            while let frames = try? socket.receive(dontWait: true) {
                let command = frames.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
                if command == ControlChannel.terminate {
                    daemon.logger.info("\(daemon.spec.name) has received \(ControlChannel.terminate) on the control channel")
                    daemon.terminate()
                } else {
                    daemon.logger.warning("\(daemon.spec.name) ignores unknown control command '\(command)'")
                }
            }
        }
    }

    /// Subscribes `daemon` to `endpoint` (call on the daemon's thread, before it runs). The
    /// socket lives on the daemon's loop and shares its context; close the subscription after
    /// ``Daemon/run()`` returns.
    public static func subscribe(_ daemon: Daemon, to endpoint: String) throws -> Subscription {
        let context = try daemon.configuration.context ?? ZMQContext.shared()
        let socket = try Socket(.sub, context: context, linger: 0, name: "control")
        do {
            try socket.setOption(.subscribe([]))
            // Nobody binds the endpoint until a command is sent: retry connecting with backoff
            // up to once a second instead of every 100 ms (a sender waits up to 5 s).
            try socket.setOption(.reconnectIvlMax(1000))
            try socket.connect(endpoint)
        } catch {
            socket.close(linger: 0)
            throw error
        }
        let subscription = Subscription(daemon: daemon, socket: socket)
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
