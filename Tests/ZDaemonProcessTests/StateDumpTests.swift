import Testing
import ZDaemon
@testable import ZDaemonProcess
import ZDaemonTesting

@Suite("State dump")
struct StateDumpTests {
    /// The SIGUSR1 dump shows each channel's send-queue depth against its bound, a paused input,
    /// and live connections when socket events are observed.
    @Test func dumpShowsQueueDepthPauseAndLiveConnections() throws {
        let input = bindEndpoint(.inproc), output = bindEndpoint(.inproc)
        let watched = try Socket(.pull, linger: 0)
        let watchedEndpoint = try watched.bind("tcp://127.0.0.1:*")
        defer { watched.close(linger: 0) }
        var configuration = DaemonConfiguration()
        configuration.monitorSocketEvents = true
        let config = configuration
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Stage",
                                               ChannelSpec(name: "in", socket: .pull, endpoints: [input], bind: true, drainedBy: "out"),
                                               ChannelSpec(name: "out", socket: .push, endpoints: [output], bind: true, hwm: 1, queue: 5),
                                               ChannelSpec(name: "watch", socket: .push, endpoints: [watchedEndpoint])),
                                    configuration: config)
            daemon.onReceive(0) { frames in try daemon.send(frames, on: 1) }
            return daemon
        }
        defer { #expect(handle.terminateAndWait()) }
        let stalled = try Socket(.pull, linger: 0)  // connects and never reads
        try stalled.setOption(.receiveHWM(1))
        try stalled.connect(output)
        defer { stalled.close(linger: 0) }
        let feeder = try Socket(.push, linger: 0)
        try feeder.connect(input)
        for index in 0..<20 { try feeder.send([[UInt8(index)]]) }
        #expect(eventually { onLoop(handle) { $0.isReceivePaused(0) } == true })
        #expect(eventually { onLoop(handle) { $0.liveConnections(2) } == 1 })
        let lines = try #require(onLoop(handle) { ProcessDaemonService.stateLines($0) })
        try #require(lines.count == 3)
        #expect(lines[0].hasPrefix("Stage channel in PULL bind \(input): received "))
        #expect(lines[0].hasSuffix(", receive paused (flow control or a full stream buffer), live connections 0, handshake failures 0"))
        #expect(lines[1].hasSuffix("refused 0, queued sends 4/5, live connections 0, handshake failures 0"))
        #expect(lines[2].hasPrefix("Stage channel watch PUSH connect \(watchedEndpoint):"))
        #expect(lines[2].hasSuffix("queued sends 0/1000, live connections 1, handshake failures 0"))
    }

    @Test func withoutSocketEventsLiveConnectionsAreUnknown() throws {
        let daemon = try Daemon(spec: .test("Plain", ChannelSpec(name: "out", socket: .push, endpoints: [bindEndpoint(.inproc)], bind: true)))
        try daemon.open()
        #expect(ProcessDaemonService.stateLines(daemon)
            == ["Plain channel out PUSH bind \(daemon.boundEndpoints(0)[0]): received 0, sent 0, dropped 0, handler errors 0, refused 0, queued sends 0/1000, live connections unknown (socket events not observed)"])
    }
}
