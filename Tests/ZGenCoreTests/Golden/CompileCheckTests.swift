import Foundation
import Testing
import ZDaemonTesting

/// Type-checks generated code plus a snippet of user code against the ZDaemon module this build
/// made (`swiftc -typecheck`, a second or two per check): what must not compile, does not.
@Suite("Compile checks of generated code")
struct CompileCheckTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Generated/MyZmq.swift (zgen's output for Schemas/my_zmq.json; the drift check keeps it fresh).
    static func generated() throws -> String {
        try String(contentsOf: repository.appendingPathComponent("Generated/MyZmq.swift"), encoding: .utf8)
    }

    static func swiftc() -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") + ["/opt/swift/usr/bin"] {
            let candidate = "\(directory)/swiftc"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return "swiftc"
    }

    func typecheck(_ source: String, fileName: String = "Check.swift", flags: [String] = []) throws -> ToolRun {
        // The modules this build made are beside the test runner.
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map(URL.init(fileURLWithPath:))
            ?? Bundle.main.bundleURL.appendingPathComponent("placeholder")
        let modules = runner.deletingLastPathComponent().appendingPathComponent("Modules")
        let scratch = try ScratchDirectory(prefix: "zgen-compile-check")
        let file = URL(fileURLWithPath: scratch.file(fileName))
        try source.write(to: file, atomically: true, encoding: .utf8)
        // `-typecheck` stops before SIL's diagnostics (lifetimes): a flag asking for SIL replaces it.
        let mode = flags.contains("-emit-sil") ? [] : ["-typecheck"]
        return try runTool(URL(fileURLWithPath: Self.swiftc()),
                           mode + ["-swift-version", "6"] + flags + ["-I", modules.path,
                            "-I", Self.repository.appendingPathComponent("Sources/CZeroMQ").path, file.path])
    }

    static let worker = """

        final class Worker: MyZmq.MyWorkerHandlers {
            func onJob(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
            func onBroadcast(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
        }
        """

    @Test("the generated code and correct user code type-check (the control for the checks below)")
    func control() throws {
        let check = try typecheck(Self.generated() + Self.worker + """

            func wire(_ worker: MyZmq.MyWorker, _ server: MyZmq.MyServer) {
                worker.onStart { worker in _ = worker.counters(.job) }
                worker.onWillTerminate { worker in worker.logger.info("bye") }
                server.onSocketEvent([.broadcast]) { event, channel, server in _ = server.liveConnections(channel) }
            }
            """)
        #expect(check.status == 0, "\(check.output)")
    }

    @Test("code generated for another runtime API version fails to compile, naming the version symbol")
    func apiVersionMismatch() throws {
        let source = try Self.generated()
        #expect(source.contains("\nfileprivate typealias RuntimeAPI = ZDaemonAPIVersion_2 "))
        let check = try typecheck(source.replacingOccurrences(of: "ZDaemonAPIVersion_2", with: "ZDaemonAPIVersion_3"))
        #expect(check.status != 0)
        #expect(check.output.contains("cannot find type 'ZDaemonAPIVersion_3' in scope"), "\(check.output)")
    }

    @Test("a mistyped hook name, hook signature or handler does not compile into a silent no-op")
    func mistypedHooksDoNotCompile() throws {
        let cases: [(snippet: String, error: String)] = [
            ("func f(_ w: MyZmq.MyWorker) { w.onStrat { _ in } }", "has no member 'onStrat'"),
            ("func f(_ w: MyZmq.MyWorker) { w.onStart { (d: MyZmq.MyServer) in } }",
             "cannot convert value of type '(MyZmq.MyServer) -> ()' to expected argument type '(MyZmq.MyWorker) throws -> Void'"),
            ("func f(_ w: MyZmq.MyWorker) { w.onWillTerminate { _, _ in } }",
             "contextual closure type '(MyZmq.MyWorker) throws -> Void' expects 1 argument, but 2 were used in closure body"),
            ("func f(_ w: MyZmq.MyWorker) { w.onSocketEvent([.jobs]) { _, _, _ in } }", "has no member 'jobs'"),
            ("""
             final class Misspelled: MyZmq.MyWorkerHandlers {
                 func onjob(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
                 func onBroadcast(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
             }
             """, "does not conform to protocol 'MyZmq.MyWorkerHandlers'"),
            ("func f(_ w: MyZmq.MyWorker) { _ = w.counters(0) }",
             "cannot convert value of type 'Int' to expected argument type 'MyZmq.MyWorker.Channel'"),
            // A daemon that receives cannot be made without its handlers (nothing would be handled).
            ("func f() throws { _ = try MyZmq.MyWorker() }", "missing argument for parameter 'wrapping' in call"),
        ]
        let generated = try Self.generated()
        for (snippet, error) in cases {
            let check = try typecheck(generated + "\n" + snippet + "\n")
            #expect(check.status != 0, "compiled: \(snippet)")
            #expect(check.output.contains(error), "\(snippet): \(check.output)")
        }
    }

    /// The ```swift block that follows `heading` in README.md, verbatim.
    static func readmeBlock(after heading: String, containing marker: String) throws -> String {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: heading)).upperBound
        var rest = readme[section...]
        while let start = rest.range(of: "```swift\n") {
            // The closing fence, indented like the opening one (a block inside a list item is).
            let end = try #require(rest[start.upperBound...].range(of: "```"))
            let block = String(rest[start.upperBound..<end.lowerBound])
            if block.contains(marker) { return block }
            rest = rest[end.upperBound...]
        }
        Issue.record("no swift block with \(marker) after \(heading)")
        return ""
    }

    @Test("README's runtime example type-checks verbatim (ReadmeExampleTests runs it)")
    func readmeRuntimeExample() throws {
        let block = try Self.readmeBlock(after: "## The runtime (`ZDaemon`)", containing: "struct Counter: TypedDaemon")
        // Top-level code: checked as a main file.
        let check = try typecheck(block, fileName: "main.swift")
        #expect(check.status == 0, "\(check.output)")
    }

    @Test("README's socket-event example type-checks verbatim against the generated MyZmq")
    func readmeSocketEventExample() throws {
        let block = try Self.readmeBlock(after: "## Socket events", containing: "worker.onSocketEvent")
        let check = try typecheck(Self.generated() + Self.worker + "\nfunc example() throws {\n" + block + "\n}\n")
        #expect(check.status == 0, "\(check.output)")
    }

    @Test("README's ServiceGroup example type-checks verbatim against the generated MyZmq")
    func readmeServiceGroupExample() throws {
        let block = try Self.readmeBlock(after: "## The runtime (`ZDaemon`)", containing: "successTerminationBehavior")
        let unindented = block.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasPrefix("  ") ? String($0.dropFirst(2)) : String($0) }.joined(separator: "\n")
        let check = try typecheck(unindented + "\n" + Self.generated() + Self.worker)
        #expect(check.status == 0, "\(check.output)")
    }

    @Test("README's request example type-checks verbatim against the generated Pricing (RequestTests runs the same handlers' paths)")
    func readmeRequestExample() throws {
        let block = try Self.readmeBlock(after: "## Requests and replies", containing: "final class Prices")
        let generated = try String(contentsOf: Self.repository.appendingPathComponent("Tests/ZGenCoreTests/Golden/Expected/Pricing.swift"),
                                   encoding: .utf8)
        let check = try typecheck(generated + "\n" + block)
        #expect(check.status == 0, "\(check.output)")
    }

    @Test("README's daemon executable (Running daemons) type-checks verbatim against the generated MyZmq and the process layer")
    func readmeDaemonExecutable() throws {
        let block = try Self.readmeBlock(after: "## Running daemons", containing: "struct MyZmqCommand: AsyncParsableCommand")
        // The two helpers it names live in Sources/MyZmqExample/MyZmqCommand.swift; stand-ins here.
        let helpers = """

            final class WorkerHandlers: MyZmq.MyWorkerHandlers {
                func onJob(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
                func onBroadcast(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
            }
            final class ServerCounter {
                init(interval: Double) {}
                func start(_ server: MyZmq.MyServer) throws {}
            }
            """
        // `import Generated` names the module that holds Generated/MyZmq.swift: here that file is inline.
        let check = try typecheck(block.replacingOccurrences(of: "import Generated\n", with: "") + "\n" + Self.generated() + helpers,
                                  flags: ["-parse-as-library"])  // `@main`, as in an executable target
        #expect(check.status == 0, "\(check.output)")
    }

    static func borrowedGolden() throws -> String {
        try String(contentsOf: repository.appendingPathComponent("Tests/ZGenCoreTests/Golden/Expected/Borrowed.swift"), encoding: .utf8)
    }

    /// User handlers for the golden `Borrowed.Desk`, with `quotesBody` in the borrowed quote handler.
    static func deskHandlers(_ quotesBody: String, members: String = "") -> String {
        """

        final class Handlers: Borrowed.DeskHandlers {
            var symbols: [String] = []
            \(members)
            func onQuotes(id: UInt64, symbol: UTF8Span, price: Double, live: Bool, venue: UTF8Span, size: UInt32, daemon: Borrowed.Desk) throws {
                \(quotesBody)
            }
            func take(topic: UTF8Span, body: Span<UInt8>, meta: [String: Int], daemon: Borrowed.Desk) throws {}
            func onOwned(_ message: Borrowed.Quote, daemon: Borrowed.Desk) throws {}
        }
        """
    }

    @Test("a borrowed field cannot outlive its handler call: keeping a UTF8Span does not compile, a copy does")
    func borrowedFieldsCannotEscape() throws {
        let copy = try typecheck(Self.borrowedGolden() + Self.deskHandlers("symbols.append(String(copying: symbol))"))
        #expect(copy.status == 0, "\(copy.output)")
        let stored = try typecheck(Self.borrowedGolden() + Self.deskHandlers("kept = symbol", members: "var kept: UTF8Span?"))
        #expect(stored.status != 0)
        #expect(stored.output.contains("UTF8Span"), "\(stored.output)")
        // Captured by an escaping closure: SIL's lifetime check refuses it (so this one builds SIL).
        let captured = try typecheck(Self.borrowedGolden() + Self.deskHandlers("later = { _ = symbol.count }", members: "var later: (() -> Void)?"),
                                     flags: ["-emit-sil", "-o", "/dev/null"])
        #expect(captured.status != 0)
        #expect(captured.output.contains("escap") || captured.output.contains("lifetime"), "\(captured.output)")
    }

    @Test("code generated with --access-level internal and package, for daemons with handlers, type-checks with its handlers",
          arguments: ["internal", "package"])
    func nonPublicAccessLevels(_ level: String) throws {
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map(URL.init(fileURLWithPath:))
        let zgen = try #require(runner).deletingLastPathComponent().appendingPathComponent("zgen")
        try #require(FileManager.default.isExecutableFile(atPath: zgen.path), "zgen is built next to the tests")
        let schema = Self.repository.appendingPathComponent("Tests/ZGenCoreTests/Golden/Schemas/borrowed.json")
        let run = try runTool(zgen, [schema.path, "--stdout", "--access-level", level])
        #expect(run.status == 0, "\(run.output)")
        let check = try typecheck(run.output + Self.deskHandlers("symbols.append(String(copying: symbol))"),
                                  flags: level == "package" ? ["-package-name", "checks"] : [])
        #expect(check.status == 0, "\(check.output)")
    }

    @Test("README's borrowed-handler example type-checks verbatim against the generated Borrowed")
    func readmeBorrowedExample() throws {
        let block = try Self.readmeBlock(after: "### Borrowed handlers", containing: "final class Desk: Borrowed.DeskHandlers")
        let check = try typecheck(Self.borrowedGolden() + "\n" + block)
        #expect(check.status == 0, "\(check.output)")
    }

    @Test("README's request schema snippet shows the golden schema's channels as they are")
    func readmeRequestSchemaSnippet() throws {
        let readme = try String(contentsOf: Self.repository.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.range(of: "## Requests and replies")).upperBound
        let rest = readme[section...]
        let start = try #require(rest.range(of: "```json\n"))
        let end = try #require(rest[start.upperBound...].range(of: "```"))
        let snippet = rest[start.upperBound..<end.lowerBound]
        let schema = try String(contentsOf: Self.repository.appendingPathComponent("Tests/ZGenCoreTests/Golden/Schemas/pricing.json"),
                                encoding: .utf8)
        // Every channel the snippet shows is in the schema with the same keys and values.
        let flat = { (text: String) in text.filter { !$0.isWhitespace } }
        for channel in ["\"quotes\":{\"socket\":\"DEALER\"", "\"quotes\":{\"socket\":\"ROUTER\"", "\"desk\":{\"socket\":\"REP\""] {
            let inSnippet = try #require(flat(String(snippet)).range(of: channel))
            let snippetChannel = flat(String(snippet))[inSnippet.lowerBound...].prefix { $0 != "}" }
            #expect(flat(schema).contains(snippetChannel), "\(snippetChannel)")
        }
    }

    @Test("README's security example without the process layer type-checks verbatim against the generated SecurePair")
    func readmeSecurityExample() throws {
        let block = try Self.readmeBlock(after: "### Without the process layer", containing: "SecurityConfiguration(for:")
        let schema = Self.repository.appendingPathComponent("Tests/SecurityTests/Example/secure_pair.json")
        let zgen = try runTool(try builtExecutable("zgen"), [schema.path, "--stdout"])
        #expect(zgen.status == 0, "\(zgen.output)")
        let check = try typecheck("import ZDaemonSecurity\n" + zgen.output + "\nfunc example() throws {\n" + block + "\n}\n")
        #expect(check.status == 0, "\(check.output)")
    }
}
