import Logging
// Socket events: libzmq's monitor per observed channel, logged, counted and handed to a handler.
extension Daemon {
    /// Observes a channel's socket events (connected, accepted, disconnected, handshake
    /// failures, ...) through libzmq's monitor; they are also logged and counted. Call before
    /// ``open()``/``run()``. A thrown error is logged and counted as a handler error.
    @usableFromInline package func onSocketEvent(_ channel: Int, _ handler: @escaping (SocketEvent) throws -> Void) {
        self.channel(channel, "onSocketEvent").eventHandler = handler
    }

    /// Live connections of a monitored channel: connects and accepts minus disconnects.
    @usableFromInline package func liveConnections(_ channel: Int) -> Int {
        self.channel(channel, "liveConnections").liveConnections
    }

    /// How many socket events of each kind (`connected`, `accepted`, `disconnected`, ...) a
    /// monitored channel has seen.
    @usableFromInline package func socketEventCounts(_ channel: Int) -> [String: Int] {
        self.channel(channel, "socketEventCounts").eventCounts
    }

    /// Whether a channel's socket events are observed (``DaemonConfiguration/monitorSocketEvents``,
    /// an ``onSocketEvent(_:_:)`` handler, or a secured channel), so that ``liveConnections(_:)``
    /// means something.
    @usableFromInline package func monitorsSocketEvents(_ channel: Int) -> Bool {
        self.channel(channel, "monitorsSocketEvents").monitor != nil
    }

    /// Starts the monitor of a channel's new socket and registers it with the loop.
    func startMonitor(of channel: Channel, socket: Socket) throws {
        let monitor = try SocketMonitor(socket)
        channel.monitor = monitor
        channel.monitorRegistration = loop.register(monitor.socket, events: .readable,
                                                    name: "channel \(channel.spec.name) events") { [unowned self, unowned channel] _ in
            self.socketEvents(channel)
        }
    }

    /// Stops and forgets a channel's monitor, if any.
    func stopMonitor(of channel: Channel) {
        if let registration = channel.monitorRegistration { loop.unregister(registration) }
        channel.monitorRegistration = nil
        channel.monitor?.stop()
        channel.monitor = nil
    }

    /// Takes the waiting events of a channel's monitor (bounded per call).
    func socketEvents(_ channel: Channel) {
        guard let monitor = channel.monitor else { return }
        var handled = 0
        while handled < 256, let event = try? monitor.next(dontWait: true) {
            handled += 1
            channel.eventCounts[event.kind, default: 0] += 1
            switch event {
            case .connected, .accepted: channel.liveConnections += 1
            case .disconnected: channel.liveConnections = max(0, channel.liveConnections - 1)
            default: break
            }
            var text = event.description
            if case .handshakeFailedProtocol(let endpoint, let code) = event, channel.spec.security == .none {
                text = "handshake failed with \(endpoint) (\(SocketEvent.protocolErrorName(code, secured: false)))"
            }
            let level: Logger.Level? = event.isFailure ? .warning : event.kind == "disconnected" ? .info : nil
            if let level {
                // A storm (accept failures at fd exhaustion, a peer retrying with a wrong key) is summarised.
                repeatedLog.log(.socketEvent(event.kind), channel: channel.spec.name, level: level, to: logger, detail: text) {
                    "\(spec.name): channel \(channel.spec.name): \($0)"
                }
            } else {
                logger.debug("\(spec.name): channel \(channel.spec.name): \(text)")
            }
            if let handler = channel.eventHandler {
                do { try handler(event) } catch { handlerFailed(channel, error) }
            }
        }
    }
}

extension SocketEvent {
    /// The event's kind as counted in ``Daemon/socketEventCounts(_:)``: `connected`, `bindFailed`, …
    public var kind: String {
        switch self {
        case .listening: "listening"
        case .bindFailed: "bindFailed"
        case .accepted: "accepted"
        case .acceptFailed: "acceptFailed"
        case .connected: "connected"
        case .connectDelayed: "connectDelayed"
        case .connectRetried: "connectRetried"
        case .closed: "closed"
        case .closeFailed: "closeFailed"
        case .disconnected: "disconnected"
        case .handshakeSucceeded: "handshakeSucceeded"
        case .handshakeFailedNoDetail: "handshakeFailedNoDetail"
        case .handshakeFailedProtocol: "handshakeFailedProtocol"
        case .handshakeFailedAuthentication: "handshakeFailedAuthentication"
        case .monitorStopped: "monitorStopped"
        }
    }
}
