// The seed's example (cs.eyrie's usage page) on zgen: one server and four workers of the
// `my_zmq` app. The daemons, messages and channels are generated from Schemas/my_zmq.json
// (Generated/MyZmq.swift, module Generated); only the handlers below are written by hand.
import ArgumentParser
import ZDaemon
import ZDaemonProcess
import Generated

/// A received message printed the way the seed prints Python's list of frames: `['text']`; a
/// text over 200 bytes is cut (`'…' … (N bytes)`), so a peer cannot write huge log lines.
func pythonList(_ frames: [String]) -> String {
    "[" + frames.map { text in
        text.utf8.count > 200 ? pythonRepr(String(decoding: text.utf8.prefix(200), as: UTF8.self)) + " … (\(text.utf8.count) bytes)" : pythonRepr(text)
    }.joined(separator: ", ") + "]"
}

/// Python's `repr` of a `str`: single quotes unless the text contains one and no double quote.
func pythonRepr(_ text: String) -> String {
    let quote: Character = text.contains("'") && !text.contains("\"") ? "\"" : "'"
    var out = String(quote)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where Character(scalar) == quote: out += "\\" + String(quote)
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            let hex = String(scalar.value, radix: 16)
            out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
        default: out.unicodeScalars.append(scalar)
        }
    }
    out.append(quote)
    return out
}

/// MyServer: every `interval` counts n = 1, 2, 3 …; odd n go out as jobs, even n as
/// broadcasts; after n = 5 it broadcasts `EXIT` on the next loop iteration and terminates.
/// MyServer receives nothing, so it has no handlers protocol: this is its start hook and timer.
final class ServerCounter {
    let interval: Duration
    var count = 0
    var timer: RepeatedTask?

    init(interval: Duration) {
        self.interval = interval
    }

    /// The start hook (`server.onStart(counter.start)`). The first broadcast (n = 2) goes out two
    /// intervals after the start; the launcher has started the workers first and waited until
    /// their channels were open, so their subscriptions have arrived by then (see the README's
    /// note on slow joiners).
    func start(_ server: MyZmq.MyServer) throws {
        timer = server.scheduleRepeatedTask(initialDelay: interval, delay: interval, name: "count") { server in
            try self.tick(server)
        }
    }

    func tick(_ server: MyZmq.MyServer) throws {
        count += 1
        let text = "This is message #\(count)"
        if count % 2 == 1 {
            server.logger.info("Sending job: \(text)")
            try server.sendJob(MyZmq.Text(text: text))
        } else {
            server.logger.info("Broadcasting: \(text)")
            try server.sendBroadcast(MyZmq.Text(text: text))
        }
        if count >= 5 {
            timer?.cancel()
            server.execute { server in
                server.logger.info("Broadcasting: EXIT")
                do {
                    try server.sendBroadcast(MyZmq.Text(text: "EXIT"))
                } catch {
                    server.logger.error("Broadcasting EXIT failed: \(error)")
                }
                server.terminate()
            }
        }
    }
}

/// MyWorker: logs every job and broadcast; terminates on the broadcast `EXIT`.
final class WorkerHandlers: MyZmq.MyWorkerHandlers {
    func onJob(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {
        daemon.logger.info("Received job: \(pythonList([message.text]))")
    }

    func onBroadcast(_ message: MyZmq.Text, daemon: MyZmq.MyWorker) throws {
        daemon.logger.info("Received broadcast: \(pythonList([message.text]))")
        if message.text == "EXIT" { daemon.terminate() }
    }
}

@main
struct MyZmqCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "my-zmq",
        abstract: "The seed's example: one MyServer and four MyWorker processes of the my_zmq app.",
        discussion: """
            Without --daemon, launches 4 workers titled (my:worker:1)…(my:worker:4), then the server \
            (my:server), and waits for all of them. Exit statuses: 0 ok, 1 failure, 64 usage, \
            69 a socket could not bind or connect, 78 configuration.
            """)

    @OptionGroup var process: ProcessOptions

    @Option(help: ArgumentHelp("Seconds between the server's messages (the seed's 2 s).", valueName: "seconds"))
    var interval: Double = 2

    @Option(help: ArgumentHelp("How many MyWorker processes the launcher starts (default: the schema's instances, 4).", valueName: "count"))
    var workers: Int?

    func validate() throws {
        guard interval > 0 else { throw ValidationError("--interval must be a positive number of seconds") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
    }

    func run() async throws {
        let interval = Duration.milliseconds(Int64((interval * 1000).rounded()))
        try await DaemonProcess.run(
            process,
            daemons: [
                // Workers first: the launcher waits until they are ready before starting the server.
                DaemonProgram(MyZmq.MyWorker.spec, processes: workers, finish: .expected) { context in
                    try MyZmq.MyWorker(handlers: WorkerHandlers(), configuration: context.configuration)
                },
                DaemonProgram(MyZmq.MyServer.spec, processes: 1, finish: .stopsTheApp) { context in
                    let server = try MyZmq.MyServer(configuration: context.configuration)
                    server.onStart(ServerCounter(interval: interval).start)
                    return server
                },
            ])
    }
}
