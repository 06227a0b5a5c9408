import Foundation
import Testing
import ZGenCore

/// Pins `zgen --graph mermaid|dot`. README.md embeds the Mermaid picture of Schemas/my_zmq.json;
/// when this test changes, paste the new picture there too.
@Suite("Topology graphs")
struct GraphTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func model(_ relativePath: String) throws -> Schema {
        let contents = try [UInt8](Data(contentsOf: repository.appendingPathComponent(relativePath)))
        let (schema, diagnostics) = ZGen.parse(schemaAt: relativePath, contents: contents)
        return try #require(schema, "\(diagnostics.map(\.description))")
    }

    /// Compares line by line, so a mismatch names the first differing line instead of two blobs.
    static func expectSame(_ actual: String, _ expected: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLines = (expected + "\n").split(separator: "\n", omittingEmptySubsequences: false)
        for (index, (got, want)) in zip(actualLines, expectedLines).enumerated() where got != want {
            Issue.record("line \(index + 1):\n  got:      \(got)\n  expected: \(want)\nwhole output:\n\(actual)", sourceLocation: sourceLocation)
            return
        }
        #expect(actualLines.count == expectedLines.count, "whole output:\n\(actual)", sourceLocation: sourceLocation)
    }

    @Test("the seed example as Mermaid: daemons as nodes, channels as labelled edges, binds marked")
    func seedMermaid() throws {
        Self.expectSame(
            TopologyGraph.render(try Self.model("Schemas/my_zmq.json"), format: .mermaid),
            #"""
            flowchart LR
                %% Topology of my_zmq, drawn by zgen --graph mermaid
                MyServer["MyServer<br/>(my:server)"]
                MyWorker["MyWorker<br/>(my:worker)"]
                MyServer -->|"job<br/>PUSH (bind) → PULL (connect)<br/>tcp://*:9090 / tcp://localhost:9090<br/>Text"| MyWorker
                MyServer -->|"broadcast<br/>PUB (bind) → SUB (connect)<br/>tcp://*:9095 / tcp://localhost:9095<br/>Text"| MyWorker
            """#
        )
    }

    @Test("the seed example as Graphviz dot")
    func seedDot() throws {
        Self.expectSame(
            TopologyGraph.render(try Self.model("Schemas/my_zmq.json"), format: .dot),
            #"""
            // Topology of my_zmq, drawn by zgen --graph dot
            digraph "my_zmq" {
                rankdir=LR;
                node [shape=box, style=rounded];
                edge [fontsize=10];
                "MyServer" [label="MyServer\n(my:server)"];
                "MyWorker" [label="MyWorker\n(my:worker)"];
                "MyServer" -> "MyWorker" [label="job\nPUSH (bind) → PULL (connect)\ntcp://*:9090 / tcp://localhost:9090\nText"];
                "MyServer" -> "MyWorker" [label="broadcast\nPUB (bind) → SUB (connect)\ntcp://*:9095 / tcp://localhost:9095\nText"];
            }
            """#
        )
    }

    @Test("two-way sockets, endpoints outside the schema, escaping (Mermaid)")
    func twoWayMermaid() throws {
        Self.expectSame(
            TopologyGraph.render(try Self.model("Tests/GraphTests/Schemas/two_way.json"), format: .mermaid),
            #"""
            flowchart LR
                %% Topology of two_way, drawn by zgen --graph mermaid
                Client["Client<br/>(two:client)"]
                Broker["Broker<br/>(two:broker)"]
                endpoint0(["tcp://feed.example.com:7000"])
                endpoint1(["inproc://#quot;quoted#quot;"])
                endpoint0 -.->|"feed<br/>PULL (connect)<br/>Work"| Client
                Client <-->|"ask / front<br/>REQ (connect) ↔ ROUTER (bind)<br/>ipc:///tmp/two_way.ipc<br/>Ask / Answer"| Broker
                Broker <-.->|"peer<br/>PAIR (bind)<br/>Work"| endpoint1
                classDef outside stroke-dasharray: 4 4
                class endpoint0,endpoint1 outside
            """#
        )
    }

    @Test("two-way sockets, endpoints outside the schema, escaping (dot)")
    func twoWayDot() throws {
        Self.expectSame(
            TopologyGraph.render(try Self.model("Tests/GraphTests/Schemas/two_way.json"), format: .dot),
            #"""
            // Topology of two_way, drawn by zgen --graph dot
            digraph "two_way" {
                rankdir=LR;
                node [shape=box, style=rounded];
                edge [fontsize=10];
                "Client" [label="Client\n(two:client)"];
                "Broker" [label="Broker\n(two:broker)"];
                "endpoint0" [label="tcp://feed.example.com:7000", style="rounded,dashed"];
                "endpoint1" [label="inproc://\"quoted\"", style="rounded,dashed"];
                "endpoint0" -> "Client" [label="feed\nPULL (connect)\nWork", style=dashed];
                "Client" -> "Broker" [label="ask / front\nREQ (connect) ↔ ROUTER (bind)\nipc:///tmp/two_way.ipc\nAsk / Answer", dir=both];
                "Broker" -> "endpoint1" [label="peer\nPAIR (bind)\nWork", dir=both, style=dashed];
            }
            """#
        )
    }

    @Test("binds to a wildcard port get a node each; connects to one outside endpoint share it")
    func outsideEndpoints() throws {
        let mermaid = TopologyGraph.render(try Self.model("Tests/GraphTests/Schemas/outside.json"), format: .mermaid)
        let nodes = mermaid.split(separator: "\n").filter { $0.contains("([") }
        #expect(nodes == [
            #"    endpoint0(["tcp://127.0.0.1:*"])"#,
            #"    endpoint1(["tcp://broker.example.com:5555"])"#,
            #"    endpoint2(["tcp://127.0.0.1:*"])"#,
        ], "\(mermaid)")
        #expect(mermaid.contains(#"A -.->|"out<br/>PUSH (connect)<br/>Item"| endpoint1"#), "\(mermaid)")
        #expect(mermaid.contains(#"B -.->|"out<br/>PUSH (connect)<br/>Item"| endpoint1"#), "\(mermaid)")
    }

    @Test("the INI twin of the seed draws the same picture")
    func iniTwin() throws {
        let json = try Self.model("Schemas/my_zmq.json")
        let ini = try Self.model("Schemas/my_zmq.ini")
        for format in TopologyGraph.Format.allCases {
            #expect(TopologyGraph.render(ini, format: format) == TopologyGraph.render(json, format: format))
        }
    }
}
