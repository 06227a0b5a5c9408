import Testing

import ZDaemon
import ZDaemonTesting

/// README's "The runtime" example: a hand-written typed daemon.
struct Counter: TypedDaemon {
    enum Channel: Int, DaemonChannel, CaseIterable { case input }
    static let spec = DaemonSpec(name: "Counter", title: "(counter)", app: "demo", channels: [
        ChannelSpec(name: "input", socket: .pull, endpoints: ["tcp://127.0.0.1:*"], bind: true),
    ])
    let daemon: Daemon
    init(wrapping daemon: Daemon) { self.daemon = daemon }
    init() throws { self.init(wrapping: try Daemon(spec: Self.spec)) }
}

/// README's "The runtime" example, kept compiling and running here (plus a message to count).
@Suite("README runtime example")
struct ReadmeExampleTests {
    @Test("the example starts, binds an OS-chosen port, counts a message and terminates from another thread")
    func example() throws {
        let handle = try DaemonThread.start(name: "counter") {
            let counter = try Counter()
            var frames = 0
            counter.daemon.onReceive(Counter.Channel.input) { received in frames += received.count }
            counter.onStart { counter in
                counter.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { counter in
                    counter.logger.info("still here: \(counter.counters(.input).received) received, \(frames) frames")
                }
            }
            return counter
        }
        #expect(handle.waitUntilStarted(timeout: .seconds(10)))
        let endpoint = try #require(handle.boundEndpoints(Counter.Channel.input).first)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:") && !endpoint.hasSuffix(":*"))

        let push = try Socket(.push, linger: 1000)
        try push.connect(endpoint)
        #expect(try push.send([Array("hello".utf8)]))
        #expect(eventually { onLoop(handle) { $0.counters(Counter.Channel.input).received } == 1 })
        push.close(linger: 0)

        handle.terminate()
        #expect(handle.waitUntilFinished(timeout: .seconds(10)))
        #expect(handle.error == nil)
    }
}
