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
