import Foundation
import Testing

import ZDaemon
import ZDaemonTesting

@Suite("XSUB subscriptions")
struct XSubSubscribeTests {
    @Test("an XSUB channel's `subscribe` prefixes are sent as subscription messages and filter what arrives")
    func xsubSubscribes() throws {
        let endpoint = "inproc://xsub-\(UUID().uuidString)"
        let publisher = try Socket(.pub, linger: 0)
        _ = try publisher.bind(endpoint)
        defer { publisher.close(linger: 0) }
        let received = Box<[String]>([])
        let handle = try startDaemon("xsub") {
            let daemon = try Daemon(spec: .test("Listener",
                ChannelSpec(name: "feed", socket: .xsub, endpoints: [endpoint], subscribe: ["keep"])))
            daemon.onReceive(0) { frames in received.update { $0.append(text(frames[0])) } }
            return daemon
        }
        defer { stop(handle) }
        // Publish until the subscription has reached the publisher (the slow joiner), then a few more.
        var sequence = 0
        #expect(eventually {
            sequence += 1
            _ = try? publisher.send(textFrames("drop-\(sequence)"), dontWait: true)
            _ = try? publisher.send(textFrames("keep-\(sequence)"), dontWait: true)
            return received.get.count >= 3
        })
        let texts = received.get
        #expect(texts.allSatisfy { $0.hasPrefix("keep-") }, "\(texts)")
        #expect(texts.count >= 3)
    }
}
