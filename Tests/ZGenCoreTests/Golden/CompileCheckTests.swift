import Foundation
import Testing
import ZDaemonTesting

/// Type-checks generated code plus a snippet of user code against the ZDaemon module this build
/// made (`swiftc -typecheck`, a second or two per check): what must not compile, does not.
@Suite("Compile checks of generated code")
struct CompileCheckTests {
    struct Check {
        var status: Int32
        var output: String
    }

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

    func typecheck(_ source: String) throws -> Check {
        // The modules this build made are beside the test runner.
        let runner = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let modules = URL(fileURLWithPath: runner).deletingLastPathComponent().appendingPathComponent("Modules")
        let scratch = try ScratchDirectory(prefix: "zgen-compile-check")
        let file = URL(fileURLWithPath: scratch.file("Check.swift"))
        try source.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.swiftc())
        process.arguments = ["-typecheck", "-swift-version", "6", "-I", modules.path,
                             "-I", Self.repository.appendingPathComponent("Sources/CZeroMQ").path, file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Check(status: process.terminationStatus, output: output)
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
        #expect(source.contains("fileprivate typealias RuntimeAPI = ZDaemonAPIVersion_2\n"))
        let check = try typecheck(source.replacingOccurrences(of: "ZDaemonAPIVersion_2", with: "ZDaemonAPIVersion_3"))
        #expect(check.status != 0)
        #expect(check.output.contains("cannot find type 'ZDaemonAPIVersion_3' in scope"), "\(check.output)")
    }

    @Test("a mistyped hook name, hook signature or handler does not compile into a silent no-op")
    func mistypedHooksDoNotCompile() throws {
        let cases: [(snippet: String, error: String)] = [
            ("func f(_ w: MyZmq.MyWorker) { w.onStrat { _ in } }", "has no member 'onStrat'"),
            ("func f(_ w: MyZmq.MyWorker) { w.onStart { (d: MyZmq.MyServer) in } }", "error:"),
            ("func f(_ w: MyZmq.MyWorker) { w.onWillTerminate { _, _ in } }", "error:"),
            ("func f(_ w: MyZmq.MyWorker) { w.onSocketEvent([.jobs]) { _, _, _ in } }", "has no member 'jobs'"),
            ("""
             final class Misspelled: MyZmq.MyWorkerHandlers {
                 func onjob(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
                 func onBroadcast(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {}
             }
             """, "does not conform to protocol 'MyZmq.MyWorkerHandlers'"),
            ("func f(_ w: MyZmq.MyWorker) { _ = w.counters(0) }", "error:"),
        ]
        let generated = try Self.generated()
        for (snippet, error) in cases {
            let check = try typecheck(generated + "\n" + snippet + "\n")
            #expect(check.status != 0, "compiled: \(snippet)")
            #expect(check.output.contains(error), "\(snippet): \(check.output)")
        }
    }
}
