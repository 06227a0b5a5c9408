import Foundation
import Testing
import ZDaemon
import ZDaemonSecurity
import ZDaemonProcess
import ZDaemonTesting
import ZGenCore

#if canImport(Glibc)
import Glibc
#endif

/// The README's Security example (Tests/SecurityTests/Example: the schema and the INI file),
/// run as the README says: keys made with `zkeys`, the INI read by the process layer, the two
/// daemons exchanging jobs over CURVE on 127.0.0.1.
@Suite("README security example")
struct ExampleTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Example")
    static let schemaPath = directory.appendingPathComponent("secure_pair.json").path
    static let iniPath = directory.appendingPathComponent("secure_pair.ini").path

    /// The runtime specs zgen renders for the schema (the same values as its `ChannelSpec(...)`).
    static func specs() throws -> [DaemonSpec] {
        let contents = Array(try Data(contentsOf: URL(fileURLWithPath: schemaPath)))
        let parsed = ZGen.parse(schemaAt: schemaPath, contents: contents)
        let schema = try #require(parsed.schema, "\(parsed.diagnostics)")
        return schema.daemons.map { daemon in
            DaemonSpec(name: daemon.typeName, title: daemon.title, app: schema.app, channels: daemon.channels.map { channel in
                ChannelSpec(name: channel.name, socket: SocketType(rawValue: channel.socket.rawValue)!, endpoints: channel.endpoints,
                            bind: channel.bind, subscribe: channel.subscribe, hwm: Int32(channel.hwm), queue: channel.queue,
                            security: channel.security == .curve ? .curve : .none, curveServer: channel.curveServer)
            })
        }
    }

    @Test func schemaIsCleanAndRendersCurveChannels() throws {
        let contents = Array(try Data(contentsOf: URL(fileURLWithPath: Self.schemaPath)))
        let result = ZGen.generate(schemaAt: Self.schemaPath, contents: contents)
        #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
        let source = try #require(result.file).contents
        #expect(source.components(separatedBy: "security: .curve").count == 3)
        #expect(!source.contains("key"))
    }

    /// A scratch copy of the example: the INI file and keys made by zkeys as the README says.
    func makeExample() throws -> ScratchDirectory {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        try FileManager.default.copyItem(atPath: Self.iniPath, toPath: scratch.file("secure_pair.ini"))
        let zkeys = try builtExecutable("zkeys")
        for name in ["dispatcher", "worker"] {
            let made = try run(zkeys, ["new", name, "-d", scratch.file("keys")])
            #expect(made.status == 0, "\(made.stderr)")
        }
        _ = try scratch.directory("keys/clients")
        try FileManager.default.copyItem(atPath: scratch.file("keys/worker.key"), toPath: scratch.file("keys/clients/worker.key"))
        return scratch
    }

    func configuration(_ runtime: RuntimeConfiguration, _ daemon: String, logs: LogCapture) -> DaemonConfiguration {
        var configuration = DaemonConfiguration()
        configuration.context = try? ZMQContext()  // one context per daemon, as in two processes
        configuration.channels = runtime.overrides[daemon] ?? [:]
        configuration.security = runtime.security[daemon]
        configuration.makeLogger = { logs.makeLogger($0) }
        configuration.linger = .milliseconds(100)
        return configuration
    }

    /// The example's Worker on a thread of its own, configured from `ini`, connecting to the
    /// Dispatcher at `endpoint`; `onReceive` gets each job's frames.
    func startExampleWorker(ini: String, specs: [DaemonSpec], endpoint: String,
                            _ onReceive: @escaping @Sendable ([ZDaemon.Frame]) -> Void) throws -> DaemonHandle {
        let runtime = try RuntimeConfiguration(path: ini, specs: specs,
                                               assignments: ["Worker.job.endpoint=\(endpoint)", "Worker.job.reconnect_ivl=20"])
        let workerConfiguration = configuration(runtime, "Worker", logs: LogCapture())
        let workerSpec = specs[1]
        let handle = try DaemonThread.start(name: "worker") {
            let daemon = try ZDaemon.Daemon(spec: workerSpec, configuration: workerConfiguration)
            daemon.onReceive(0, onReceive)
            return daemon
        }
        #expect(handle.waitUntilStarted(timeout: .seconds(10)))
        return handle
    }

    @Test func thePairExchangesJobsOverCurve() throws {
        let scratch = try makeExample()
        let specs = try Self.specs()
        let ini = scratch.file("secure_pair.ini")
        let serverLogs = LogCapture()
        let dispatcherRuntime = try RuntimeConfiguration(path: ini, specs: specs, assignments: ["Dispatcher.job.endpoint=tcp://127.0.0.1:*"])
        let dispatcherConfiguration = configuration(dispatcherRuntime, "Dispatcher", logs: serverLogs)
        let dispatcherSpec = specs[0]
        let dispatcher = try DaemonThread.start(name: "dispatcher") {
            try ZDaemon.Daemon(spec: dispatcherSpec, configuration: dispatcherConfiguration)
        }
        defer {
            dispatcher.terminate()
            _ = dispatcher.waitUntilFinished(timeout: .seconds(10))
        }
        #expect(dispatcher.waitUntilStarted(timeout: .seconds(10)))
        let endpoint = try #require(dispatcher.boundEndpoints(0).first)

        func startWorker(_ assignments: [String], received: Box<[String]>, logs: LogCapture) throws -> DaemonHandle {
            let runtime = try RuntimeConfiguration(path: ini, specs: specs,
                                                   assignments: ["Worker.job.endpoint=\(endpoint)", "Worker.job.reconnect_ivl=20"] + assignments)
            let workerConfiguration = configuration(runtime, "Worker", logs: logs)
            let workerSpec = specs[1]
            let handle = try DaemonThread.start(name: "worker") {
                let daemon = try ZDaemon.Daemon(spec: workerSpec, configuration: workerConfiguration)
                daemon.onReceive(0) { frames in received.update { $0.append(String(decoding: frames.last ?? [], as: UTF8.self)) } }
                return daemon
            }
            #expect(handle.waitUntilStarted(timeout: .seconds(10)))
            return handle
        }

        // The allow-listed worker gets every job.
        let received = Box<[String]>([])
        let worker = try startWorker([], received: received, logs: LogCapture())
        defer {
            worker.terminate()
            _ = worker.waitUntilFinished(timeout: .seconds(10))
        }
        for index in 0..<5 {
            _ = dispatcher.execute { (daemon: ZDaemon.Daemon) in
                try? daemon.send([FrameEncoder.integer(UInt64(index)), FrameEncoder.string("job \(index)")], on: 0)
            }
        }
        #expect(eventually { received.get.count == 5 })
        #expect(received.get == (0..<5).map { "job \($0)" })
        #expect(serverLogs.messages.contains("Dispatcher: channel job: CURVE server, allowing 1 client key, addresses 127.0.0.1, 10.0.0.0/8, denying 10.9.9.9"))

        // A worker with a key pair that is not on the allow-list gets nothing; the refusal is logged.
        let zkeys = try builtExecutable("zkeys")
        #expect(try run(zkeys, ["new", "stranger", "-d", scratch.file("keys")]).status == 0)
        let stranger = try CurveKeyFile.readPublicKey(path: scratch.file("keys/stranger.key"))
        let strangerReceived = Box<[String]>([])
        let strangerWorker = try startWorker(["Worker.job.curve_secret_key_file=\(scratch.file("keys/stranger.key_secret"))"],
                                             received: strangerReceived, logs: LogCapture())
        defer {
            strangerWorker.terminate()
            _ = strangerWorker.waitUntilFinished(timeout: .seconds(10))
        }
        #expect(eventually { serverLogs.messages.contains { $0.hasPrefix("ZAP refused CURVE client \(stranger.z85) from 127.0.0.1") } })
        #expect(eventually { serverLogs.messages.contains { $0.contains("handshake failed") && $0.contains("status 400") } })
        for index in 5..<10 {
            _ = dispatcher.execute { (daemon: ZDaemon.Daemon) in
                try? daemon.send([FrameEncoder.integer(UInt64(index)), FrameEncoder.string("job \(index)")], on: 0)
            }
        }
        #expect(eventually { received.get.count == 10 })
        #expect(strangerReceived.get.isEmpty)
    }

    @Test("after a reload (SIGHUP), a key removed from the allow-list is refused on its next handshake; a connected peer stays")
    func revokedKeyIsRefusedAfterAReload() throws {
        let scratch = try makeExample()
        let specs = try Self.specs()
        let ini = scratch.file("secure_pair.ini")
        let serverLogs = LogCapture()
        let assignments = ["Dispatcher.job.endpoint=tcp://127.0.0.1:*"]
        let dispatcherConfiguration = configuration(try RuntimeConfiguration(path: ini, specs: specs, assignments: assignments),
                                                    "Dispatcher", logs: serverLogs)
        let dispatcherSpec = specs[0]
        let dispatcher = try DaemonThread.start(name: "dispatcher") { try ZDaemon.Daemon(spec: dispatcherSpec, configuration: dispatcherConfiguration) }
        defer {
            dispatcher.terminate()
            _ = dispatcher.waitUntilFinished(timeout: .seconds(10))
        }
        #expect(dispatcher.waitUntilStarted(timeout: .seconds(10)))
        let endpoint = try #require(dispatcher.boundEndpoints(0).first)
        func startWorker(received: Box<[String]>) throws -> DaemonHandle {
            try startExampleWorker(ini: ini, specs: specs, endpoint: endpoint) { frames in
                received.update { $0.append(String(decoding: frames.last ?? [], as: UTF8.self)) }
            }
        }
        func send(_ text: String) {
            _ = dispatcher.execute { (daemon: ZDaemon.Daemon) in try? daemon.send([FrameEncoder.integer(1), FrameEncoder.string(text)], on: 0) }
        }
        let first = Box<[String]>([])
        let connected = try startWorker(received: first)
        defer {
            connected.terminate()
            _ = connected.waitUntilFinished(timeout: .seconds(10))
        }
        send("before")
        #expect(eventually { first.get == ["before"] })

        // The worker's key leaves the allow-list; the reload gives the server its new policy.
        try FileManager.default.removeItem(atPath: scratch.file("keys/clients/worker.key"))
        let security = try #require(try RuntimeConfiguration(path: ini, specs: specs, assignments: assignments).security["Dispatcher"])
        let changes = onLoop(dispatcher) { daemon in (try? security.applyClientPolicies(to: daemon)) ?? ["failed"] }
        #expect(changes == ["Dispatcher: channel job: CURVE server now allows 0 client keys"])

        // A new connection with that key is refused at its handshake ...
        let worker = try CurveKeyFile.readKeyPair(path: scratch.file("keys/worker.key_secret"))
        let second = Box<[String]>([])
        let refused = try startWorker(received: second)
        defer {
            refused.terminate()
            _ = refused.waitUntilFinished(timeout: .seconds(10))
        }
        #expect(eventually { serverLogs.messages.contains { $0.hasPrefix("ZAP refused CURVE client \(worker.publicKey.z85) from 127.0.0.1") } })
        // ... while the connection made before the reload stays (CURVE authenticates once).
        send("after")
        #expect(eventually { first.get == ["before", "after"] })
        #expect(second.get.isEmpty)
    }

    static let isolated = isolatedTestMode == "sighup-curve"

    @Test("SIGHUP to a daemon process rereads its allow-list: the revoked worker's next connection is refused, the connected one keeps receiving",
          .disabled(if: isolatedTestMode != nil))
    func sighupRevokesAKeyInARealProcess() throws {
        let scratch = try makeExample()
        let specs = try Self.specs()
        let ini = scratch.file("secure_pair.ini")
        // The Dispatcher runs in a process of its own, hosted by the process layer (signals and all).
        let child = try startIsolatedTest("dispatcherProcessChild", mode: "sighup-curve", environment: ["ZGEN_TEST_INI": ini])
        defer { child.signal(SIGKILL) }
        #expect(child.waitForLine(containing: "BOUND tcp://"), "\(child.lines)")
        let endpoint = try #require(child.lines.first { $0.hasPrefix("BOUND ") }.map { String($0.dropFirst(6)) })
        func startWorker(received: Box<Int>) throws -> DaemonHandle {
            try startExampleWorker(ini: ini, specs: specs, endpoint: endpoint) { _ in received.update { $0 += 1 } }
        }
        let first = Box(0)
        let connected = try startWorker(received: first)
        defer { connected.terminateAndWait() }
        #expect(eventually { first.get >= 2 })

        try FileManager.default.removeItem(atPath: scratch.file("keys/clients/worker.key"))
        child.signal(SIGHUP)
        #expect(child.waitForLine(containing: "Dispatcher: channel job: CURVE server now allows 0 client keys"), "\(child.lines)")

        let worker = try CurveKeyFile.readKeyPair(path: scratch.file("keys/worker.key_secret"))
        let second = Box(0)
        let refused = try startWorker(received: second)
        defer { refused.terminateAndWait() }
        #expect(child.waitForLine(containing: "ZAP refused CURVE client \(worker.publicKey.z85) from 127.0.0.1"), "\(child.lines)")
        let before = first.get
        #expect(eventually { first.get >= before + 2 }, "the connection made before the reload stays")
        #expect(second.get == 0)

        // The state dump counts the refusals and the failed handshakes.
        child.signal(SIGUSR1)
        #expect(child.waitForLine(containing: "Dispatcher ZAP: accepted 1, refused "), "\(child.lines)")
        let zap = child.lines.first { $0.contains("Dispatcher ZAP: accepted 1, refused ") } ?? ""
        #expect(zap.contains("; the last refusal: refused CURVE client \(worker.publicKey.z85) from 127.0.0.1"), "\(zap)")
        let channel = child.lines.first { $0.contains("Dispatcher channel job ") } ?? ""
        #expect(channel.contains(", handshake failures ") && !channel.hasSuffix(", handshake failures 0"), "\(channel)")

        child.signal(SIGTERM)
        #expect(child.waitForExit(timeout: 30) == 0, "\(child.lines)")
        #expect(child.lines.contains { $0.contains("with 1 test") && $0.contains("passed") }, "\(child.lines)")
    }

    @Test("(in the child process) the Dispatcher as a daemon process: a job every 50 ms, until SIGTERM", .enabled(if: Self.isolated))
    func dispatcherProcessChild() async throws {
        let ini = try #require(ProcessInfo.processInfo.environment["ZGEN_TEST_INI"])
        let specs = try Self.specs()
        let spec = specs[0]
        let options = try ProcessOptions.parse(["-c", ini, "--daemon", "Dispatcher", "--set", "Dispatcher.job.endpoint=tcp://127.0.0.1:*",
                                                "--set", "control.endpoint=none"])
        let program = DaemonProgram(spec) { context in
            let daemon = try ZDaemon.Daemon(spec: spec, configuration: context.configuration)
            daemon.onStart {
                FileHandle.standardError.write(Data("BOUND \(daemon.boundEndpoints(0).first ?? "?")\n".utf8))
                daemon.loop.scheduleRepeatedTask(initialDelay: .milliseconds(50), delay: .milliseconds(50)) {
                    try? daemon.send([FrameEncoder.integer(1), FrameEncoder.string("job")], on: 0)
                }
            }
            return daemon
        }
        // The Worker is declared only because the INI file configures it; this process runs the Dispatcher.
        let worker = DaemonProgram(specs[1]) { _ -> ZDaemon.Daemon in throw ZDaemonError("not run here") }
        try await DaemonProcess.run(options, daemons: [program, worker])
    }

    /// A CURVE channel whose keys are not configured never starts as plaintext.
    @Test func curveChannelWithoutKeysDoesNotStart() throws {
        let specs = try Self.specs()
        #expect(throws: SecurityConfigurationError(
            "Worker channel job is a CURVE channel but no keys are configured (set curve_secret_key_file and the server's public key in [run:security] or [run:Worker.job])"))
        {
            _ = try ZDaemon.Daemon(spec: specs[1])
        }
        var configuration = DaemonConfiguration()
        configuration.security = SecurityConfiguration(defaults: CurveChannelSecurity(keyPair: try CurveKeyPair.generate()))
        #expect(throws: SecurityConfigurationError(
            "Dispatcher channel job is a CURVE server but nothing says which clients may connect (set curve_allow_dir, or curve_allow_any = true)"))
        {
            _ = try ZDaemon.Daemon(spec: specs[0], configuration: configuration)
        }
    }

    /// Bad key files stop a daemon process with status 78 and one clear line (my-zmq as the
    /// daemon executable: key files named in the INI are loaded before any daemon starts).
    @Test(arguments: ["missing", "malformed", "wrong length", "world-readable"])
    func badKeyFilesExit78(_ problem: String) throws {
        let scratch = try ScratchDirectory(prefix: "zgen-sec")
        let pair = try CurveKeyPair.generate()
        try CurveKeyFile.write(pair, to: scratch.file("server.key"))
        let secret = scratch.file("server.key_secret")
        let expected: String
        switch problem {
        case "missing":
            try FileManager.default.removeItem(atPath: secret)
            expected = "\(secret): cannot read secret key file: No such file or directory"
        case "malformed":
            try scratch.write("server.key_secret", "curve\n    secret-key \"x\"\n", mode: 0o600)
            expected = "\(secret):2: malformed line (expected 'name' or 'name = \"value\"')"
        case "wrong length":
            try scratch.write("server.key_secret", "curve\n    secret-key = \"\(pair.secretKey.z85.dropLast())\"\n", mode: 0o600)
            expected = "\(secret):2: secret-key must be 40 Z85 characters (a 32-byte key), got 39"
        default:
            chmod(secret, 0o644)
            expected = "\(secret): secret key file has mode 0644: it must not be accessible by group or others (chmod 600 \(secret))"
        }
        let ini = try scratch.write("bad.ini", "[run:MyServer.job]\ncurve_secret_key_file = server.key_secret\n")
        let result = try run(try builtExecutable("my-zmq"), ["-c", ini, "--daemon", "MyServer"])
        #expect(result.status == 78)
        #expect(result.stderr == "\(ini):2:25: error: curve_secret_key_file: \(expected)\n")
        #expect(!result.stderr.contains(pair.secretKey.z85))
    }

    /// README.md's Security section holds the example files verbatim.
    @Test func readmeShowsTheTestedExample() throws {
        let root = Self.directory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "\n## Security\n") else {
            Issue.record("README.md has no '## Security' section yet (its draft is /work/coord/README-security.md)")
            return
        }
        let section = readme[start.upperBound...].components(separatedBy: "\n## ").first ?? ""
        for path in [Self.schemaPath, Self.iniPath] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(section.contains(text), "README's Security section does not show \(path) verbatim")
        }
    }
}
