import Foundation
import Testing

@testable import ZGenCore
import ZGenVocabulary

/// Every file in Invalid/ is a schema with problems; `<file>.expected` holds the exact diagnostic
/// lines zgen must print for it (path = the file's name).
@Suite("Invalid schema corpus")
struct CorpusTests {
    static let cases: [URL] = Fixtures.files(in: Fixtures.invalidDirectory, extensions: ["json", "ini"])

    @Test("the corpus is large enough and covers both forms")
    func size() {
        #expect(Self.cases.count >= 40)
        #expect(Self.cases.filter { $0.pathExtension == "ini" }.count >= 10)
        #expect(Self.cases.filter { $0.pathExtension == "json" }.count >= 30)
    }

    @Test("each invalid schema gives exactly its expected diagnostics", arguments: cases)
    func diagnostics(schema: URL) throws {
        let name = schema.lastPathComponent
        let expected = try #require(Fixtures.text(schema.appendingPathExtension("expected")), "missing \(name).expected")
        let result = ZGen.generate(schemaAt: name, contents: Fixtures.bytes(schema))
        let actual = result.formattedDiagnostics.joined(separator: "\n") + (result.diagnostics.isEmpty ? "" : "\n")
        #expect(actual == expected, "\(UnifiedDiff.diff(old: expected, new: actual, oldName: "expected", newName: "actual"))")
        // Every case has something to say; only warnings may still produce output.
        #expect(!result.diagnostics.isEmpty)
        #expect(result.hasErrors == (result.file == nil))
    }
}

@Suite("Validation details")
struct ValidationTests {
    @Test("all problems of a schema are reported in one run")
    func collectsAll() {
        let text = schemaJSON(daemons: #"""
            "A": { "channels": {
              "a": { "socket": "PUL", "endpoint": "inproc://a", "message": "Text" },
              "b": { "socket": "PUSH", "endpoint": "tcp://*:1", "message": "Txt" },
              "c": { "socket": "SUB", "endpoint": "inproc://c", "bind": true, "message": "Text" }
            } }
            """#)
        let result = generate(text)
        #expect(result.diagnostics.filter { $0.severity == .error }.count == 4)
        #expect(result.file == nil)
    }

    @Test("warnings alone still generate")
    func warningsGenerate() {
        let text = schemaJSON(daemons: #""A": { "channels": { "a": { "socket": "PULL", "endpoint": "tcp://localhost:5", "message": "Text" } } }"#)
        let result = generate(text)
        #expect(result.formattedDiagnostics == ["test.json:5:74: warning: no daemon in this schema binds `tcp://localhost:5`"])
        #expect(result.file != nil)
    }

    @Test(
        "endpoint grammar",
        arguments: [
            ("tcp://*:9090", true, nil),
            ("tcp://0.0.0.0:9090", true, nil),
            ("tcp://[::1]:9090", false, nil),
            ("tcp://eth0:9090", true, nil),
            ("tcp://*:*", true, nil),
            ("tcp://localhost:*", false, "port `*` in `tcp://localhost:*` (any free port) only works when binding"),
            ("tcp://localhost", false, "endpoint `tcp://localhost` needs `host:port`"),
            ("tcp://:80", true, "endpoint `tcp://:80` has no host"),
            ("ipc:///tmp/x", false, nil),
            ("ipc://*", true, nil),
            ("ipc://*", false, "`ipc://*` (a fresh path) only works when binding"),
            ("inproc://a-b", false, nil),
            ("pgm://eth0;239.192.1.1:5555", true, "unsupported transport `pgm` in `pgm://eth0;239.192.1.1:5555`; zgen knows tcp, ipc and inproc"),
        ] as [(String, Bool, String?)])
    func endpoints(endpoint: String, bind: Bool, problem: String?) {
        #expect(Endpoint.problem(endpoint, bind: bind) == problem)
    }

    @Test("a bind to every interface serves connects to the loopback names")
    func matching() throws {
        let bindAll = try #require(Endpoint.parse("tcp://*:9090"))
        for connect in ["tcp://localhost:9090", "tcp://127.0.0.1:9090"] {
            #expect(try #require(Endpoint.parse(connect)).isReached(byBindOf: bindAll))
        }
        #expect(!(try #require(Endpoint.parse("tcp://localhost:9091"))).isReached(byBindOf: bindAll))
        let loopback = try #require(Endpoint.parse("tcp://127.0.0.1:9090"))
        #expect(try #require(Endpoint.parse("tcp://localhost:9090")).isReached(byBindOf: loopback))
        #expect(bindAll.clashes(withBindOf: loopback))
        #expect(!(try #require(Endpoint.parse("tcp://*:*"))).clashes(withBindOf: try #require(Endpoint.parse("tcp://*:*"))))
    }

    @Test("drainedBy and drains are completed both ways in the model")
    func drainsNormalised() throws {
        let text = schemaJSON(daemons: #"""
            "A": { "channels": {
              "in": { "socket": "PULL", "endpoint": "inproc://in", "bind": true, "message": "Text", "drainedBy": "out" },
              "out": { "socket": "PUSH", "endpoint": "inproc://out", "bind": true, "message": "Text" }
            } }
            """#)
        let schema = try #require(generate(text).schema)
        #expect(schema.daemons[0].channels[0].drainedBy == "out")
        #expect(schema.daemons[0].channels[1].drains == "in")
    }

    @Test("socket pairs of the whole-system check")
    func pairs() {
        let ok: [(SocketType, SocketType)] = [
            (.push, .pull), (.pub, .sub), (.xpub, .sub), (.pub, .xsub), (.xpub, .xsub), (.req, .rep), (.req, .router),
            (.dealer, .router), (.dealer, .rep), (.dealer, .dealer), (.pair, .pair),
        ]
        for (a, b) in ok {
            #expect(SystemCheck.canPair(a, b) && SystemCheck.canPair(b, a), "\(a) \(b)")
        }
        for (a, b) in [(SocketType.push, SocketType.sub), (.pub, .pull), (.req, .req), (.pair, .push), (.rep, .rep)] {
            #expect(!SystemCheck.canPair(a, b), "\(a) \(b)")
        }
    }
}
