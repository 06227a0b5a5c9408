import Testing
@testable import ZDaemon
import ZDaemonTesting

/// The zero-copy receive path: frames lent from libzmq's buffers (`ReceivedFrames`).
@Suite("Borrowed receive")
struct BorrowedReceiveTests {
    @Test func socketLendsEveryPartOfMultipartMessagesOfAnySize() throws {
        let endpoint = bindEndpoint(.inproc)
        let pull = try Socket(.pull)
        try pull.bind(endpoint)
        let push = try Socket(.push)
        try push.connect(endpoint)
        // Small (inline in zmq_msg_t), empty and large frames; more parts than the initial
        // buffer holds, so it grows in the middle of a message.
        let big = Frame((0..<70_000).map { UInt8(truncatingIfNeeded: $0) })
        let messages: [[Frame]] = [
            textFrames("one"),
            [Array("a".utf8), [], big, Array("tiny".utf8), [0xFF], Array(repeating: 7, count: 40)],
            (0..<9).map { Array("part \($0)".utf8) },
            textFrames("last"),
        ]
        for message in messages { try push.send(message) }
        for message in messages {
            var received: ReceivedFrames?
            #expect(eventually { received = try? pull.receiveBorrowed(dontWait: true); return received != nil })
            let frames = try #require(received)
            #expect(frames.count == message.count)
            #expect(frames.copied() == message)
            for index in 0..<frames.count { #expect(Frame(frames[index]) == message[index]) }
        }
        #expect(try pull.receiveBorrowed(dontWait: true) == nil)
    }

    @Test func readerDecodesBorrowedFramesLikeOwnedOnes() throws {
        let endpoint = bindEndpoint(.inproc)
        let pull = try Socket(.pull)
        try pull.bind(endpoint)
        let push = try Socket(.push)
        try push.connect(endpoint)
        let owned: [Frame] = [
            FrameEncoder.string("héllo wörld, long enough to leave the small-string form"), FrameEncoder.bytes([0, 255]),
            FrameEncoder.bool(true), FrameEncoder.integer(Int32(-7)), FrameEncoder.double(2.5),
            FrameEncoder.string("ascii text of more than sixteen bytes"), [0xC3, 0x28], [1, 2, 3],
        ]
        try push.send(owned)
        var received: ReceivedFrames?
        #expect(eventually { received = try? pull.receiveBorrowed(dontWait: true); return received != nil })
        let frames = try #require(received)
        for var reader in [FrameReader(frames, message: "All"), FrameReader(owned, message: "All")] {
            #expect(try reader.string("s") == "héllo wörld, long enough to leave the small-string form")
            #expect(try reader.bytes("b") == [0, 255])
            #expect(try reader.bool("f") == true)
            #expect(try reader.integer("i", as: Int32.self) == -7)
            #expect(try reader.double("d") == 2.5)
            #expect(try reader.string("a") == "ascii text of more than sixteen bytes")
            #expect(throws: FrameDecodingError(message: "All", frame: "bad", index: 6, reason: "invalid UTF-8")) {
                try reader.string("bad")
            }
            _ = try reader.bytes("bad")
            #expect(throws: FrameDecodingError(message: "All", frame: "n", index: 7, reason: "expected 8 bytes, got 3")) {
                try reader.integer("n", as: UInt64.self)
            }
            #expect(reader.remaining == 1)
        }
    }

    @Test func invalidUTF8IsRefusedWhateverItsLength() throws {
        // Invalid sequences that repairing would turn into U+FFFD of the same byte length, and
        // ones past the ASCII-scan's 8-byte steps.
        let invalid: [Frame] = [[0xED, 0xA0, 0x80], Array("0123456789".utf8) + [0xE2, 0x82], [0xF8, 0x88, 0x80, 0x80, 0x80],
                                Array("abcdefgh".utf8) + [0x80]]
        for frame in invalid {
            var reader = FrameReader([frame], message: "T")
            #expect(throws: FrameDecodingError(message: "T", frame: "t", index: 0, reason: "invalid UTF-8")) {
                try reader.string("t")
            }
        }
        for text in ["", "a", "€", "0123456789abcdefé", "ascii only, exactly 24 b"] {
            var reader = FrameReader([FrameEncoder.string(text)], message: "T")
            #expect(try reader.string("t") == text)
        }
    }

    @Test func daemonServesBorrowedHandlersAndCountsThem() throws {
        let handled = Box<[String]>([])
        let handle = try startDaemon {
            let daemon = try Daemon(spec: .test("Borrower", ChannelSpec(name: "input", socket: .pull, endpoints: ["tcp://127.0.0.1:*"], bind: true)))
            daemon.onReceiveBorrowed(0, { frames in
                var reader = FrameReader(frames, message: "Text")
                let value = try reader.string("text")
                try reader.finish()
                handled.update { $0.append(value) }
            })
            return daemon
        }
        defer { stop(handle) }
        let push = try Socket(.push)
        try push.connect(try #require(handle.boundEndpoints(0).first))
        for message in [textFrames("one"), [[0xFF]], textFrames("a", "b"), textFrames("two")] {
            try push.send(message)
        }
        #expect(eventually { handled.get == ["one", "two"] })
        #expect(eventually { onLoop(handle) { $0.counters(0) } == ChannelCounters(received: 4, sent: 0, dropped: 2, handlerErrors: 0) })
    }
}
