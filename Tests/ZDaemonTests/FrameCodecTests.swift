import Testing
@testable import ZDaemon
import ZDaemonTesting

@Suite("Frame codec")
struct FrameCodecTests {
    struct Payload: Codable, Equatable { var a: Int; var b: [String] }

    @Test func roundTrip() throws {
        let frames: [Frame] = [
            FrameEncoder.string("héllo"), FrameEncoder.bytes([0, 255, 7]), FrameEncoder.bool(true),
            FrameEncoder.integer(Int64(-2)), FrameEncoder.integer(UInt16(0xABCD)), FrameEncoder.float(1.5),
            FrameEncoder.double(-0.25), try FrameEncoder.json(Payload(a: 3, b: ["x"])), FrameEncoder.string(""),
        ]
        #expect(frames[3] == [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
        #expect(frames[4] == [0xAB, 0xCD])
        #expect(frames[5] == [0x3F, 0xC0, 0, 0])
        var reader = FrameReader(frames, message: "All")
        #expect(try reader.string("s") == "héllo")
        #expect(try reader.bytes("b") == [0, 255, 7])
        #expect(try reader.bool("f") == true)
        #expect(try reader.integer("i", as: Int64.self) == -2)
        #expect(try reader.integer("u", as: UInt16.self) == 0xABCD)
        #expect(try reader.float("x") == 1.5)
        #expect(try reader.double("d") == -0.25)
        #expect(try reader.json("j", as: Payload.self) == Payload(a: 3, b: ["x"]))
        #expect(reader.remaining == 1)
        #expect(try reader.string("e") == "")
        try reader.finish()
    }

    @Test func malformedFramesNameMessageFrameAndReason() throws {
        var reader = FrameReader([[1, 2, 3]], message: "Tick")
        #expect(throws: FrameDecodingError(message: "Tick", frame: "n", index: 0, reason: "expected 8 bytes, got 3")) {
            try reader.integer("n", as: UInt64.self)
        }
        reader = FrameReader([[0xFF, 0xFE]], message: "Text")
        #expect(throws: FrameDecodingError(message: "Text", frame: "text", index: 0, reason: "invalid UTF-8")) {
            try reader.string("text")
        }
        reader = FrameReader([FrameEncoder.string("a")], message: "Pair")
        _ = try reader.string("first")
        #expect(throws: FrameDecodingError(message: "Pair", frame: "second", index: 1, reason: "missing frame")) {
            try reader.string("second")
        }
        reader = FrameReader([[1], [2]], message: "One")
        _ = try reader.bool("flag")
        #expect(throws: FrameDecodingError(message: "One", frame: "", index: 1, reason: "unexpected extra frame")) {
            try reader.finish()
        }
        reader = FrameReader([[2]], message: "Flag")
        #expect(throws: FrameDecodingError(message: "Flag", frame: "on", index: 0, reason: "expected 0 or 1, got 2")) {
            try reader.bool("on")
        }
        reader = FrameReader([Array("{".utf8)], message: "Doc")
        do {
            _ = try reader.json("body", as: Payload.self)
            Issue.record("decoded invalid JSON")
        } catch let error as FrameDecodingError {
            #expect(error.message == "Doc" && error.frame == "body" && error.index == 0)
            #expect(error.reason.hasPrefix("invalid JSON"))
        }
        let error = FrameDecodingError(message: "Tick", frame: "n", index: 2, reason: "missing frame")
        #expect(error.description == "malformed Tick: frame 2 (n): missing frame")
    }
}
