import Testing
@testable import ZDaemon
import ZDaemonTesting

#if canImport(Glibc)
import Glibc
#endif

@Suite("Socket events")
struct SocketEventTests {
    @Test func listeningAcceptedHandshakeAndDisconnected() throws {
        let pull = try Socket(.pull)
        let monitor = try SocketMonitor(pull)
        let endpoint = try pull.bind("tcp://127.0.0.1:*")
        #expect(try monitor.firstEvent { if case .listening = $0 { true } else { false } } == .listening(endpoint: endpoint))
        let push = try Socket(.push)
        try push.connect(endpoint)
        #expect(try monitor.firstEvent { if case .accepted = $0 { true } else { false } } != nil)
        #expect(try monitor.firstEvent { if case .handshakeSucceeded = $0 { true } else { false } } != nil)
        push.close(linger: 0)
        let disconnected = try monitor.firstEvent { if case .disconnected = $0 { true } else { false } }
        #expect(disconnected?.endpoint.hasPrefix("tcp://127.0.0.1:") == true)
        monitor.stop()
    }

    @Test func bindFailedIsAnEvent() throws {
        let holder = try Socket(.pull)
        let endpoint = try holder.bind("tcp://127.0.0.1:*")
        let other = try Socket(.pull)
        let monitor = try SocketMonitor(other)
        #expect(throws: ZMQError.self) { try other.bind(endpoint) }
        let event = try monitor.firstEvent { if case .bindFailed = $0 { true } else { false } }
        // libzmq names the address without the transport prefix here.
        #expect(event == .bindFailed(endpoint: String(endpoint.dropFirst("tcp://".count)), code: EADDRINUSE))
        #expect(event?.isFailure == true)
    }

    /// A daemon channel's events reach its handler, are counted, and track live connections.
    @Test func daemonChannelEventsAndLiveConnections() throws {
        let peer = try Socket(.pull)
        let endpoint = try peer.bind("tcp://127.0.0.1:*")
        let events = Box<[SocketEvent]>([])
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Watcher", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint],
                                                                     options: ChannelOptions(reconnectIvl: 50))))
            daemon.onSocketEvent(0) { event in events.update { $0.append(event) } }
            return daemon
        }
        defer { stop(handle) }
        #expect(eventually { events.get.contains(.connected(endpoint: endpoint)) })
        #expect(eventually { onLoop(handle) { $0.liveConnections(0) } == 1 })
        peer.close(linger: 0)
        #expect(eventually { events.get.contains(.disconnected(endpoint: endpoint)) })
        #expect(eventually { onLoop(handle) { $0.liveConnections(0) } == 0 })
        let counts = try #require(onLoop(handle) { $0.socketEventCounts(0) })
        #expect(counts["connected"] == 1 && counts["disconnected"] == 1)
    }
}

@Suite("Handshake failures, named for the channel")
struct HandshakeFailureTests {
    /// Connects to the ipc `path` as a raw peer and sends a ZMTP 3.0 greeting for `mechanism`.
    func rawGreeting(_ path: String, mechanism: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw ZDaemonError("cannot connect to \(path)") }
        var greeting: [UInt8] = [0xFF] + [UInt8](repeating: 0, count: 8) + [0x7F, 3, 0]
        greeting += Array(mechanism.utf8) + [UInt8](repeating: 0, count: 20 - mechanism.utf8.count)
        greeting += [0] + [UInt8](repeating: 0, count: 31)
        _ = greeting.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        return fd
    }

    @Test("a peer asking a plaintext channel for CURVE is a mechanism mismatch that does not blame a plaintext peer; repeats are summarised")
    func mismatchOnAPlaintextChannel() throws {
        let logs = LogCapture()
        var configuration = DaemonConfiguration()
        configuration.makeLogger = logs.configurationLogger
        configuration.monitorSocketEvents = true
        let config = configuration
        let scratch = try ScratchDirectory(prefix: "zgen-hs")
        let path = scratch.file("in")
        let handle = try startDaemon {
            try Daemon(spec: .test("Plain", ChannelSpec(name: "input", socket: .pull, endpoints: ["ipc://\(path)"], bind: true)),
                       configuration: config)
        }
        defer { stop(handle) }
        var peers: [Int32] = []
        defer { for fd in peers { close(fd) } }
        for _ in 0..<12 { peers.append(try rawGreeting(path, mechanism: "CURVE")) }
        #expect(eventually { onLoop(handle) { $0.socketEventCounts(0)["handshakeFailedProtocol"] } == 12 })
        let lines = logs.messages.filter { $0.contains("handshake failed") }
        #expect(lines.count == 5, "\(lines)")  // the rest wait for the window's summary
        #expect(lines.allSatisfy {
            $0.hasPrefix("Plain: channel input: handshake failed with ipc://\(path) (security mechanism mismatch (the peer is not a plaintext ZeroMQ peer: a CURVE peer, or not ZeroMQ at all))")
        }, "\(lines)")
        #expect(handle.terminateAndWait())
        #expect(logs.messages.contains("Plain: 7 more handshakeFailedProtocol events on input in the last 10 s; the last: handshake failed with ipc://\(path) (security mechanism mismatch (the peer is not a plaintext ZeroMQ peer: a CURVE peer, or not ZeroMQ at all))"),
                "\(logs.messages)")
    }
}
