import Foundation
import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

// This target compiles the golden files in Expected/ against the real runtime (so the keyword-stress
// output is known to compile) and runs the all-sockets daemons against each other over inproc.

/// What the daemons received, shared with the test thread.
final class Received: Sendable {
    let scalars = Mutex<AllSockets.Scalars?>(nil)
    let peerAtHub = Mutex<AllSockets.Scalars?>(nil)
    let peerAtSpoke = Mutex<AllSockets.Scalars?>(nil)
    let tagged = Mutex<AllSockets.Tagged?>(nil)
    let chunks = Mutex<AllSockets.Chunks?>(nil)
    let subscriptions = Mutex<[AllSockets.Subscription]>([])
    let answer = Mutex<Result<AllSockets.Answer, RequestFailure<Never>>?>(nil)
    let routedAtHub = Mutex<AllSockets.Question?>(nil)
    let routedAtSpoke = Mutex<AllSockets.Question?>(nil)

    var complete: Bool {
        scalars.withLock { $0 != nil } && peerAtHub.withLock { $0 != nil } && peerAtSpoke.withLock { $0 != nil }
            && tagged.withLock { $0 != nil } && chunks.withLock { $0 != nil } && answer.withLock { $0 != nil }
            && routedAtHub.withLock { $0 != nil } && routedAtSpoke.withLock { $0 != nil }
    }
}

let sample = AllSockets.Scalars(
    text: "héllo, ZeroMQ", blob: [0, 1, 254, 255], flag: true, i8: -128, i16: -32768, i32: .min, i64: .min, u8: 255, u16: 65535,
    u32: .max, u64: .max, ratio: -0.5, precise: 1e300)
let tags = AllSockets.Tagged(payload: ["a": 1, "b": -2], tags: ["x", "", "ünïcode"])

final class HubLogic: AllSockets.HubHandlers {
    let received: Received
    var taggedTimer: RepeatedTask?
    init(_ received: Received) { self.received = received }

    /// The start hook (`hub.onStart(logic.start)`).
    func start(_ daemon: AllSockets.Hub) throws {
        // PUB drops while no subscriber has joined: publish until the spoke has it.
        taggedTimer = daemon.scheduleRepeatedTask(initialDelay: .milliseconds(5), delay: .milliseconds(10)) { daemon in
            if self.received.tagged.withLock({ $0 == nil }) { try daemon.sendTagged(tags) }
        }
    }

    func answer(_ request: AllSockets.Question, daemon: AllSockets.Hub) throws -> AllSockets.Answer {
        AllSockets.Answer(number: request.number, square: request.number * request.number)
    }

    func onRouted(_ message: AllSockets.Question, from peer: RoutingID, daemon: AllSockets.Hub) throws {
        received.routedAtHub.withLock { $0 = message }
        try daemon.replyRouted(AllSockets.Question(number: message.number + 1), to: peer)
    }

    func onChunks(_ message: AllSockets.Subscription, daemon: AllSockets.Hub) throws {
        received.subscriptions.withLock { $0.append(message) }
        try daemon.sendChunks(AllSockets.Chunks(chunks: [[1, 2, 3], [], [4]]))
    }

    func onPeer(_ message: AllSockets.Scalars, daemon: AllSockets.Hub) throws {
        received.peerAtHub.withLock { $0 = message }
        try daemon.sendPeer(message)
        try daemon.sendScalars(message)
    }
}

final class SpokeLogic: AllSockets.SpokeHandlers {
    let received: Received
    init(_ received: Received) { self.received = received }

    /// The start hook (`spoke.onStart(logic.start)`).
    func start(_ daemon: AllSockets.Spoke) throws {
        try daemon.sendPeer(sample)
        try daemon.sendChunks(AllSockets.Subscription(raw: [1]))  // XSUB subscribes by message: everything
        try daemon.sendQuestions(AllSockets.Question(number: 12))
        try daemon.sendRouted(AllSockets.Question(number: 41))
    }

    func onScalars(_ message: AllSockets.Scalars, daemon: AllSockets.Spoke) throws { received.scalars.withLock { $0 = message } }
    func onTagged(_ message: AllSockets.Tagged, daemon: AllSockets.Spoke) throws { received.tagged.withLock { $0 = message } }
    func onChunks(_ message: AllSockets.Chunks, daemon: AllSockets.Spoke) throws { received.chunks.withLock { $0 = message } }
    func onQuestions(_ reply: Result<AllSockets.Answer, RequestFailure<Never>>, daemon: AllSockets.Spoke) throws {
        received.answer.withLock { $0 = reply }
    }
    func onRouted(_ message: AllSockets.Question, daemon: AllSockets.Spoke) throws { received.routedAtSpoke.withLock { $0 = message } }
    func onPeer(_ message: AllSockets.Scalars, daemon: AllSockets.Spoke) throws { received.peerAtSpoke.withLock { $0 = message } }
}

@Suite("Generated daemons")
struct ExchangeTests {
    @Test("every socket type and every frame type, generated daemon to generated daemon over inproc")
    func exchange() throws {
        let received = Received()
        let hub = try DaemonThread.start(name: "hub") {
            let logic = HubLogic(received)
            let hub = try AllSockets.Hub(handlers: logic)
            hub.onStart(logic.start)
            return hub
        }
        let spoke = try DaemonThread.start(name: "spoke") {
            let logic = SpokeLogic(received)
            let spoke = try AllSockets.Spoke(handlers: logic)
            spoke.onStart(logic.start)
            return spoke
        }
        defer {
            spoke.terminate()
            hub.terminate()
            #expect(spoke.waitUntilFinished(timeout: .seconds(10)))
            #expect(hub.waitUntilFinished(timeout: .seconds(10)))
        }
        #expect(eventually(timeout: .seconds(15)) { received.complete })
        #expect(received.peerAtHub.withLock { $0 } == sample)
        #expect(received.peerAtSpoke.withLock { $0 } == sample)
        #expect(received.scalars.withLock { $0 } == sample)
        #expect(received.tagged.withLock { $0 } == tags)
        #expect(received.chunks.withLock { $0 } == AllSockets.Chunks(chunks: [[1, 2, 3], [], [4]]))
        #expect(received.subscriptions.withLock { $0.first?.raw.first } == 1)
        #expect(try received.answer.withLock { $0 }?.get() == AllSockets.Answer(number: 12, square: 144))
        #expect(received.routedAtHub.withLock { $0 } == AllSockets.Question(number: 41))
        #expect(received.routedAtSpoke.withLock { $0 } == AllSockets.Question(number: 42))
    }

    @Test("decoding malformed frames throws the error naming the frame")
    func malformed() {
        #expect(throws: FrameDecodingError.self) { try AllSockets.Question(frames: [[1, 2, 3]]) }
        do {
            _ = try AllSockets.Question(frames: [[1, 2, 3]])
        } catch let error as FrameDecodingError {
            #expect(error.message == "Question" && error.frame == "number" && error.index == 0)
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: FrameDecodingError.self) { try AllSockets.Question(frames: []) }
        #expect(throws: FrameDecodingError.self) { try AllSockets.Question(frames: [[0, 0, 0, 0, 0, 0, 0, 1], []]) }
        #expect(throws: FrameDecodingError.self) { try AllSockets.Tagged(frames: [Array("{".utf8)]) }
        #expect(throws: FrameDecodingError.self) { try AllSockets.Scalars(frames: [[0xFF]] + Array(repeating: [], count: 12)) }
        #expect(throws: Never.self) { try AllSockets.Chunks(frames: []) }
    }

    @Test("every frame type round-trips through the generated encode and decode")
    func roundTrip() throws {
        #expect(try AllSockets.Scalars(frames: sample.encodeFrames()) == sample)
        #expect(try AllSockets.Tagged(frames: tags.encodeFrames()) == tags)
        let empty = AllSockets.Tagged(payload: [:], tags: [])
        #expect(try AllSockets.Tagged(frames: empty.encodeFrames()) == empty)
        #expect(sample.encodeFrames().count == 13)
    }

    @Test("the keyword-stress handlers can be written")
    func keywordHandlers() throws {
        final class Logic: Keywords.StructHandlers {
            func onClass(_ message: Keywords.Class, daemon: Keywords.Struct) throws {}
            func onSelf(_ message: Keywords.Class, daemon: Keywords.Struct) throws {}
            func onType(_ message: Keywords.DefaultMessage, daemon: Keywords.Struct) throws {}
            func handleDefault(_ message: Keywords.DefaultMessage, daemon: Keywords.Struct) throws {}
            func onJobQueue(_ message: Keywords.DefaultMessage, from peer: RoutingID, daemon: Keywords.Struct) throws {}
            func on9lives(_ request: Keywords.DefaultMessage, daemon: Keywords.Struct) throws -> Keywords.DefaultMessage { request }
        }
        let message = Keywords.Class(
            class: "c", self_: 1, default: true, init: [2], type: 3, frameName: 4, _2nd: "5", frames: "6", reader: ["7", "8"])
        #expect(try Keywords.Class(frames: message.encodeFrames()) == message)
        #expect(Keywords.Struct.spec.channels.map(\.name) == ["class", "self", "Type", "default", "init", "job-queue", "9lives"])
        _ = Logic()
    }
}
