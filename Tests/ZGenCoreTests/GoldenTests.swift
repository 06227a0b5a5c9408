import Foundation
import Testing

@testable import ZGenCore
import ZGenVocabulary

/// Reference output: Golden/Schemas/<schema> must generate exactly Golden/Expected/<Name>.swift.
/// Set ZGEN_UPDATE_GOLDEN=1 to rewrite the expected files after an intended change (then review the diff).
@Suite("Golden files")
struct GoldenTests {
    static let schemas: [URL] = Fixtures.files(in: Fixtures.goldenSchemas, extensions: ["json", "ini"])

    @Test("each golden schema generates its reference file", arguments: schemas)
    func golden(schema: URL) throws {
        let result = ZGen.generate(schemaAt: schema.lastPathComponent, contents: Fixtures.bytes(schema))
        #expect(!result.hasErrors, "\(result.formattedDiagnostics.joined(separator: "\n"))")
        let file = try #require(result.file)
        let expectedURL = Fixtures.goldenExpected.appendingPathComponent(file.fileName)
        if ProcessInfo.processInfo.environment["ZGEN_UPDATE_GOLDEN"] == "1" {
            try Data(file.contents.utf8).write(to: expectedURL)
        }
        let expected = Fixtures.text(expectedURL) ?? ""
        #expect(
            expected == file.contents,
            "\(file.fileName) differs from the reference; ZGEN_UPDATE_GOLDEN=1 rewrites it:\n\(UnifiedDiff.diff(old: expected, new: file.contents, oldName: "Expected/\(file.fileName)", newName: "generated"))"
        )
    }

    @Test("the golden schemas cover every socket type and every frame type")
    func coverage() throws {
        var sockets = Set<SocketType>()
        var frames = Set<FrameType>()
        var repeated = false
        for url in Self.schemas {
            let schema = try #require(ZGen.parse(schemaAt: url.lastPathComponent, contents: Fixtures.bytes(url)).schema)
            for daemon in schema.daemons { for channel in daemon.channels { sockets.insert(channel.socket) } }
            for message in schema.messages {
                for frame in message.frames {
                    frames.insert(frame.type)
                    repeated = repeated || frame.repeated
                }
            }
        }
        #expect(sockets == Set(SocketType.allCases))
        #expect(frames == Set(FrameType.allCases))
        #expect(repeated)
        #expect(Self.schemas.contains { $0.pathExtension == "ini" })
    }

    @Test("the keyword-stress schema makes keywords and odd names safe")
    func keywords() throws {
        let url = Fixtures.goldenSchemas.appendingPathComponent("keywords.json")
        let file = try #require(ZGen.generate(schemaAt: "keywords.json", contents: Fixtures.bytes(url)).file)
        for fragment in [
            "public var `class`: String", "public var self_: Int32", "public var `default`: Bool", "public var `init`: [UInt8]",
            "public var _2nd: String", "public var frameName: UInt16", "func onClass(", "func onSelf(", "func onType(",
            "func handleDefault(", "func onJobQueue(", "func on9lives(", "public func sendInit(", "public struct _9Tails: TypedDaemon",
            "public struct DefaultMessage", "public var encodeFrames_: Bool",
        ] {
            #expect(file.contents.contains(fragment), "missing: \(fragment)")
        }
    }
}

@Suite("Generated code")
struct RenderTests {
    static let allTypes = """
        {
          "zgen": 1,
          "app": "t",
          "imports": ["Foundation"],
          "messages": {
            "M": { "frames": [
              { "name": "s", "type": "string" }, { "name": "b", "type": "bytes" }, { "name": "f", "type": "bool" },
              { "name": "i", "type": "int16" }, { "name": "u", "type": "uint64" }, { "name": "x", "type": "float" },
              { "name": "d", "type": "double" }, { "name": "j", "type": "json", "swiftType": "Date", "repeated": true }
            ] }
          }
        }
        """

    @Test("every frame type decodes and encodes through the runtime's calls")
    func frameCalls() throws {
        let file = try #require(generate(Self.allTypes).file)
        for fragment in [
            #"self.s = try reader.string("s")"#, #"self.b = try reader.bytes("b")"#, #"self.f = try reader.bool("f")"#,
            #"self.i = try reader.integer("i", as: Int16.self)"#, #"self.u = try reader.integer("u", as: UInt64.self)"#,
            #"self.x = try reader.float("x")"#, #"self.d = try reader.double("d")"#, #"items.append(try reader.json("j", as: Date.self))"#,
            "while reader.remaining > 0", "FrameEncoder.string(self.s)", "FrameEncoder.bytes(self.b)", "FrameEncoder.bool(self.f)",
            "FrameEncoder.integer(self.i)", "FrameEncoder.integer(self.u)", "FrameEncoder.float(self.x)", "FrameEncoder.double(self.d)",
            "frames.append(try FrameEncoder.json(item))", "public func encodeFrames() throws -> [Frame]", "public var j: [Date]",
            "import Foundation",
        ] {
            #expect(file.contents.contains(fragment), "missing: \(fragment)")
        }
    }

    @Test("messages without json frames encode without throwing; one decoding body per message, no plumbing")
    func nonThrowing() throws {
        let file = try #require(generate(schemaJSON(daemons: "")).file)
        #expect(file.contents.contains("public func encodeFrames() -> [Frame] {"))
        #expect(file.contents.components(separatedBy: "init(from reader: inout FrameReader) throws").count == 2)
        // Owned and borrowed frames, and the extra-frame check, are the runtime's (FrameMessage).
        #expect(!file.contents.contains("init(frames:") && !file.contents.contains("finish()"))
    }

    @Test("access levels")
    func accessLevels() throws {
        let internalCode = try #require(generate(schemaJSON(daemons: ""), access: .internal).file).contents
        #expect(internalCode.contains("\nenum Test {") && !internalCode.contains("public "))
        let packageCode = try #require(generate(schemaJSON(daemons: ""), access: .package).file).contents
        #expect(packageCode.contains("\npackage enum Test {") && !packageCode.contains("public "))
    }

    @Test("output is deterministic and names only the schema's file")
    func deterministic() throws {
        let a = try #require(generate(Self.allTypes, path: "/some/where/t.json").file)
        let b = try #require(generate(Self.allTypes, path: "elsewhere/t.json").file)
        #expect(a == b)
        #expect(a.contents.hasPrefix("// Generated by zgen \(ZGen.version) from t.json. Do not edit.\n// swift-format-ignore-file\n// swiftlint:disable all\n"))
        #expect(!a.contents.contains("/some/where"))
    }
}
