import Testing
@testable import ZDaemon
import ZDaemonTesting

/// Reading fields in place from borrowed frames (what `"borrow": true` handlers are called with),
/// and typed sends through `FrameSender`.
@Suite("Borrowed fields and typed sends")
struct BorrowedFieldTests {
    /// A message type for error names and the default `sendFrames(to:)`.
    struct Probe: FrameMessage, Equatable {
        var frames: [Frame]
        init(from reader: inout FrameReader) throws { frames = [] }
        init(frames: [Frame]) { self.frames = frames }
        func encodeFrames() -> [Frame] { frames }
    }

    /// Runs `body` on `frames` lent as `ReceivedFrames`.
    func withReceived<R>(_ frames: [Frame], _ body: (ReceivedFrames) throws -> R) rethrows -> R {
        let buffers = frames.map { frame -> UnsafeRawBufferPointer in
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(frame.count, 1), alignment: 1)
            copy.copyBytes(from: frame)
            return UnsafeRawBufferPointer(start: copy.baseAddress, count: frame.count)
        }
        defer { buffers.forEach { UnsafeMutableRawPointer(mutating: $0.baseAddress!).deallocate() } }
        return try buffers.withUnsafeBufferPointer { try body(ReceivedFrames(base: $0.baseAddress!, count: frames.count)) }
    }

    func text(_ frame: Frame, at index: Int = 0) throws -> String {
        try withReceived([frame]) { received in try received.withString(0, "text", of: Probe.self) { String(copying: $0) } }
    }

    func failure(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test("text of every length up to 140 bytes is ASCII-checked in place; one non-ASCII byte at any position goes to full validation")
    func asciiCheckAtEveryLengthAndPosition() throws {
        for length in 0...140 {
            let ascii = Frame((0..<length).map { UInt8(0x21 + $0 % 90) })
            #expect(try text(ascii) == String(decoding: ascii, as: UTF8.self))
            for position in 0..<length {
                var bad = ascii
                bad[position] = 0xFF  // never valid UTF-8
                #expect(failure { _ = try text(bad) } == "malformed Probe: frame 0 (text): invalid UTF-8", "length \(length), position \(position)")
            }
        }
        // Valid multi-byte text anywhere passes, exactly.
        for prefix in [0, 7, 8, 63, 64, 100] {
            let value = String(repeating: "a", count: prefix) + "é€😀" + String(repeating: "z", count: prefix / 2)
            #expect(try text(Array(value.utf8)) == value)
        }
    }

    @Test("fixed-width fields read big-endian in place; wrong widths and booleans other than 0 or 1 throw the owned decoder's errors")
    func fixedWidthFields() throws {
        let frames: [Frame] = [
            [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08], [0xFF, 0xFE], [1], withUnsafeBytes(of: Double(2.5).bitPattern.bigEndian) { Array($0) },
            withUnsafeBytes(of: Float(-0.75).bitPattern.bigEndian) { Array($0) }, [2], [1, 2, 3],
        ]
        try withReceived(frames) { (received: ReceivedFrames) throws in
            #expect(try received.integer(0, "a", of: Probe.self, as: UInt64.self) == 0x0102_0304_0506_0708)
            #expect(try received.integer(1, "b", of: Probe.self, as: Int16.self) == -2)
            #expect(try received.bool(2, "c", of: Probe.self) == true)
            #expect(try received.double(3, "d", of: Probe.self) == 2.5)
            #expect(try received.float(4, "e", of: Probe.self) == -0.75)
            #expect(failure { _ = try received.bool(5, "f", of: Probe.self) } == "malformed Probe: frame 5 (f): expected 0 or 1, got 2")
            #expect(failure { _ = try received.integer(6, "g", of: Probe.self, as: UInt32.self) } == "malformed Probe: frame 6 (g): expected 4 bytes, got 3")
            #expect(received.withBytes(6) { $0.copiedBytes } == [1, 2, 3])
        }
    }

    @Test("the frame count is checked against the declaration: missing frames name the first one missing; extra ones are rejected unless ignored")
    func frameCounts() throws {
        try withReceived([[1], [2]]) { (received: ReceivedFrames) throws in
            #expect(failure { try received.checkCount(Probe.self, required: 3, declared: 3, ignoringExtra: false, names: ["a", "b", "c"]) }
                == "malformed Probe: frame 2 (c): missing frame")
            #expect(failure { try received.checkCount(Probe.self, required: 1, declared: 1, ignoringExtra: false, names: ["a"]) }
                == "malformed Probe: frame 1 (): unexpected extra frame")
            #expect(failure { try received.checkCount(Probe.self, required: 1, declared: 1, ignoringExtra: true, names: ["a"]) } == "no error")
            #expect(failure { try received.checkCount(Probe.self, required: 1, declared: 3, ignoringExtra: false, names: ["a", "b", "c"]) } == "no error")
            // A string frame with a default, past the end: the default.
            #expect(try received.withString(5, "v", of: Probe.self, default: "fallback") { String(copying: $0) } == "fallback")
        }
    }

    @Test("a typed send writes each frame once, in order; a message of no frames is refused before anything is sent",
          .timeLimit(.minutes(1)))
    func typedSendThroughTheDefaultWriter() throws {
        let endpoint = bindEndpoint(.inproc)
        let pull = try Socket(.pull)
        defer { pull.close(linger: 0) }
        try pull.bind(endpoint)
        let handle = try startDaemon {
            try Daemon(spec: .test("Sender", ChannelSpec(name: "out", socket: .push, endpoints: [endpoint])))
        }
        defer { stop(handle) }
        let message = Probe(frames: [Array("one".utf8), [], Frame(repeating: 9, count: 5000)])
        let outcomes = onLoop(handle) { daemon -> [String] in
            [Probe(frames: []), message].map { probe in
                do {
                    try daemon.send(on: 0, { try probe.sendFrames(to: &$0) }, encoded: { probe.encodeFrames() })
                    return "sent"
                } catch {
                    return "\(error)"
                }
            }
        }
        #expect(outcomes == ["send on out: a message needs at least one frame", "sent"])
        #expect(try pull.receive(timeout: .seconds(10)) == message.frames)
        #expect(try pull.receive(dontWait: true) == nil)
        #expect(onLoop(handle) { $0.counters(0).sent } == 1)
    }
}
