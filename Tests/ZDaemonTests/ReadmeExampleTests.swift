import Testing

import ZDaemon
import ZDaemonTesting

/// README's "The runtime" example, kept compiling and running here (plus a message to count).
@Suite("README runtime example")
struct ReadmeExampleTests {
    @Test("the example starts, binds an OS-chosen port, counts a message and terminates from another thread")
    func example() throws {
        let spec = DaemonSpec(name: "Counter", title: "(counter)", app: "demo", channels: [
            ChannelSpec(name: "input", socket: .pull, endpoints: ["tcp://127.0.0.1:*"], bind: true),
        ])
        let handle = try DaemonThread.start(name: "counter") {
            let daemon = try Daemon(spec: spec)
            var seen = 0
            daemon.onReceive(0) { [unowned daemon] frames in
                seen += 1
                daemon.logger.info("got \(frames.count) frame(s), \(seen) so far")
            }
            daemon.onStart { [unowned daemon] in
                daemon.loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [unowned daemon] in
                    daemon.logger.info("still here: \(daemon.counters(0).received) received")
                }
            }
            return daemon
        }
        #expect(handle.waitUntilStarted(timeout: .seconds(10)))
        let endpoint = try #require(handle.boundEndpoints(0).first)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:") && !endpoint.hasSuffix(":*"))

        let push = try Socket(.push, linger: 1000)
        try push.connect(endpoint)
        #expect(try push.send([Array("hello".utf8)]))
        #expect(eventually { onLoop(handle) { $0.counters(0).received } == 1 })
        push.close(linger: 0)

        handle.terminate()
        #expect(handle.waitUntilFinished(timeout: .seconds(10)))
        #expect(handle.error == nil)
    }
}
