import Testing
@testable import ZDaemon
import ZDaemonTesting

/// Fan-out behaviour with all four peers connected (a readiness condition is awaited with
/// probe messages, never a fixed sleep).
@Suite("Distribution")
struct DistributionTests {
    /// A PUSH daemon spreads 400 jobs over 4 PULL peers, 100 each (round-robin).
    @Test func pushSpreadsEvenlyOverFourPulls() throws {
        let handle = try startDaemon {
            try Daemon(spec: .test("Server", ChannelSpec(name: "job", socket: .push, endpoints: ["tcp://127.0.0.1:*"], bind: true)))
        }
        defer { stop(handle) }
        let endpoint = try #require(handle.boundEndpoints(0).first)
        let pulls = try (0..<4).map { _ in
            let pull = try Socket(.pull)
            try pull.connect(endpoint)
            return pull
        }
        var jobs = [Int](repeating: 0, count: 4)
        var probes = [Int](repeating: 0, count: 4)
        func collect() throws {
            for (index, pull) in pulls.enumerated() {
                while let frames = try pull.receive(dontWait: true) {
                    if text(frames[0]) == "probe" { probes[index] += 1 } else { jobs[index] += 1 }
                }
            }
        }
        // Ready once every PULL has received a probe: all four pipes are attached.
        let ready = try eventually {
            handle.execute { (daemon: Daemon) in try? daemon.send(textFrames("probe"), on: 0) }
            try collect()
            return probes.allSatisfy { $0 > 0 }
        }
        #expect(ready)
        handle.execute { (daemon: Daemon) in
            for index in 0..<400 { try? daemon.send([Array("job".utf8), FrameEncoder.integer(UInt32(index))], on: 0) }
        }
        #expect(try eventually {
            try collect()
            return jobs.reduce(0, +) == 400
        })
        #expect(jobs == [100, 100, 100, 100])
        #expect(onLoop(handle) { $0.counters(0).sent } == 400 + probes.reduce(0, +))
    }

    /// A PUB reaches 4 SUB daemons, each receiving exactly the messages of its prefix.
    @Test func pubReachesFourSubscribersFilteredByPrefix() throws {
        let publisher = try Socket(.pub)
        let endpoint = try publisher.bind("tcp://127.0.0.1:*")
        let prefixes = ["alpha", "beta", "gamma", "delta"]
        let boxes = prefixes.map { _ in Box<[String]>([]) }
        let handles = try prefixes.enumerated().map { index, prefix in
            let box = boxes[index]
            return try startDaemon {
                let daemon = try Daemon(spec: .test("Sub\(index)", ChannelSpec(name: "broadcast", socket: .sub, endpoints: [endpoint],
                                                                             subscribe: [prefix])))
                daemon.onReceive(0) { frames in box.update { $0.append(text(frames[0])) } }
                return daemon
            }
        }
        defer { handles.forEach(stop) }
        // Ready once every subscriber has seen a probe of its prefix (subscriptions arrived).
        let ready = try eventually {
            for prefix in prefixes { try publisher.send(textFrames("\(prefix).probe")) }
            return boxes.allSatisfy { !$0.get.isEmpty }
        }
        #expect(ready)
        for number in 0..<50 {
            for prefix in prefixes + ["omega"] { try publisher.send(textFrames("\(prefix):\(number)")) }
        }
        for (index, prefix) in prefixes.enumerated() {
            let expected = (0..<50).map { "\(prefix):\($0)" }
            #expect(eventually { boxes[index].get.filter { !$0.hasSuffix(".probe") } == expected })
            #expect(boxes[index].get.allSatisfy { $0.hasPrefix(prefix) })
        }
    }
}
