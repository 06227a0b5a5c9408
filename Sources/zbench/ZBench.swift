import ArgumentParser
import CZBench
import Foundation
import Generated
import ZDaemon
import ZGenCore

/// `zbench`: generated daemons against raw libzmq driven from C (and pyzmq, when it imports),
/// measured side by side in one run on one machine.
@main
struct ZBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zbench",
        abstract: "Benchmark generated zgen daemons against raw libzmq (C) and pyzmq.",
        discussion: """
            Runs C and Swift alternately, several pairs per case, and reports the median of the
            pairwise ratios (Swift ÷ C) with their spread, so that noise from two threads on a
            small machine shows instead of hiding. Build in release mode for real numbers:

              swift run -c release zbench
              swift run -c release zbench --json zbench.json
              swift run zbench --quick          # small counts: proves every benchmark runs
            """)

    @Flag(help: "Small counts and one pair per case: checks that every benchmark runs, measures nothing.")
    var quick = false

    @Option(help: "Also write the results as JSON to this path.")
    var json: String?

    @Option(help: "C/Swift pairs per case (default 5, or 1 with --quick).")
    var pairs: Int?

    @Flag(help: "Skip the pyzmq column even when pyzmq imports.")
    var noPython = false

    @Option(help: ArgumentHelp(
        "Run one side of one case once and print its rate, for profilers (e.g. swift-inproc-16, borrowed-inproc-trade, c-tcp-update, swift-fanout-tcp-16, send-c-16, send-swift-trade, send-loop, send-task, request-loop, request-task, stream-inproc-16, generator).",
        visibility: .hidden))
    var single: String?

    @Option(name: .customLong("count"), help: ArgumentHelp("Messages for --single and --sender-process.", visibility: .hidden))
    var singleCount: Int = 200_000

    @Flag(help: ArgumentHelp("Be the C sender of a tcp case, in a process of its own (zbench starts it).", visibility: .hidden))
    var senderProcess = false

    @Option(help: ArgumentHelp("--sender-process: the endpoints to connect to, comma-separated.", visibility: .hidden))
    var endpoints: String = ""

    @Option(help: ArgumentHelp("--sender-process: each part's size in bytes, comma-separated.", visibility: .hidden))
    var parts: String = "16"

    @Option(help: ArgumentHelp("--sender-process: the sender's SNDHWM.", visibility: .hidden))
    var hwm: Int32 = 0

    @Flag(help: ArgumentHelp("--sender-process: publish (XPUB, waiting for a subscriber per endpoint).", visibility: .hidden))
    var publish = false

    mutating func run() throws {
        if senderProcess {
            let sizes = parts.split(separator: ",").compactMap { Int($0) }
            try runSenderProcess(endpoints: endpoints.split(separator: ",").map(String.init), sizes: sizes,
                                 count: singleCount, publish: publish, hwm: hwm)
            return
        }
        if let single {
            print(try runSingle(single, count: singleCount))
            return
        }
        let pairs = max(1, self.pairs ?? (quick ? 1 : 5))
        var report = Report(machine: Machine.describe(), quick: quick, pairs: pairs)
        let scale = quick ? 0.01 : 1.0
        func count(_ full: Int) -> Int { max(200, Int(Double(full) * scale)) }

        // First, while the process is small: the throughput runs below buffer a lot in libzmq.
        report.memory = try memorySoak(checkpoints: quick ? [10_000, 100_000] : [1_000_000, 10_000_000])
        let shapes: [(Shape, Int)] = [
            (.string(16), 1_000_000), (.string(1024), 500_000), (.string(65536), 20_000), (.trade, 500_000), (.update, 300_000),
        ]
        for transport in Transport.allCases {
            for (shape, full) in shapes {
                for form in Form.allCases {
                    let n = count(full)
                    let row = try compare(pairs: pairs) {
                        try throughputC(transport, shape, count: n)
                    } swift: {
                        try throughputSwift(transport, shape, form, count: n)
                    }
                    report.throughput.append(.init(kind: "PUSH→PULL", transport: transport.label, frame: shape.description, handler: form.rawValue, messages: n, result: row))
                    progress("throughput \(transport) \(shape), \(form)", row)
                }
            }
        }
        for transport in Transport.allCases {
            for (size, full) in [(16, 300_000), (1024, 100_000)] {
                for form in Form.allCases {
                    let n = count(full)
                    let row = try compare(pairs: pairs) {
                        try fanoutC(transport, subscribers: 4, size: size, count: n)
                    } swift: {
                        try fanoutSwift(transport, form, subscribers: 4, size: size, count: n)
                    }
                    report.throughput.append(.init(kind: "PUB→4 SUB", transport: transport.label, frame: Shape.string(size).description, handler: form.rawValue, messages: n, result: row))
                    progress("fan-out \(transport) \(size) B, \(form)", row)
                }
            }
        }
        for (shape, full) in [(Shape.string(16), 1_000_000), (.trade, 500_000)] {
            let n = count(full)
            let row = try compare(pairs: pairs) { try sendRateC(shape, count: n) } swift: { try sendRateSwift(shape, count: n) }
            report.typedSends.append(.init(kind: "PUSH", transport: "inproc", frame: shape.description, handler: "typed send", messages: n, result: row))
            progress("send \(shape)", row)
        }
        for size in [16, 1024] {
            let n = count(50_000)
            report.latency.append(try latency(pairs: pairs, size: size, count: n))
        }
        if let small = report.latency.first {
            let trips = count(50_000)
            let loop = try (0..<pairs).map { _ in Stats.percentile(Array(try requestLatency(awaited: false, size: 16, count: trips).dropFirst()), 0.5) }
            let awaited = try (0..<pairs).map { _ in Stats.percentile(Array(try requestLatency(awaited: true, size: 16, count: trips).dropFirst()), 0.5) }
            report.requests = .init(roundTrips: trips, cReqRepMedian: small.cMedian, swiftReqRepMedian: small.swiftMedian,
                                    loopRequestMedian: Stats.median(loop), awaitedRequestMedian: Stats.median(awaited))
        }
        report.generator = try generatorGrowth(sizes: quick ? [10, 100, 1000] : [10, 100, 1000, 10_000])
        let sends = count(200_000)
        let loopCost = try (0..<pairs).map { _ in try sendCost(fromTask: false, count: sends) }
        let taskCost = try (0..<pairs).map { _ in try sendCost(fromTask: true, count: sends) }
        report.sending = .init(messages: sends, loopNanoseconds: Stats.median(loopCost) * 1e9,
                               taskNanoseconds: Stats.median(taskCost) * 1e9)
        let receives = count(200_000)
        let handlerRate = try (0..<pairs).map { _ in try throughputSwift(.inproc, .string(16), .owned, count: receives) }
        let streamRate = try (0..<pairs).map { _ in try throughputStream(.inproc, size: 16, count: receives) }
        report.receiving = .init(messages: receives, handlerNanoseconds: 1e9 / Stats.median(handlerRate),
                                 streamNanoseconds: 1e9 / Stats.median(streamRate))
        report.startup = try startup(samples: quick ? 3 : 11, idleSeconds: quick ? 0.3 : 2)
        if noPython {
            report.python = .init(note: "skipped (--no-python)")
        } else {
            report.python = try pythonThroughput(count: count(500_000), cRate: report.throughput.first?.result.cMedian)
        }

        print(report.markdown())
        if let json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: json))
            print("\nJSON written to \(json)")
        }
    }

    /// `<c|swift>-[fanout-]<tcp|inproc>-<size>`: one run of one side, messages per second (or
    /// `send-loop` / `send-task`: seconds per send; `stream-inproc-16`: messages per second read
    /// from a stream by a task; `generator`: seconds for 10,000 channels).
    private func runSingle(_ name: String, count: Int) throws -> Double {
        if name == "generator" {
            return try generatorGrowth(sizes: [10, 100, 1000, 10_000]).last?.seconds ?? 0
        }
        // Seconds per send, 16 B over inproc (what the "Sending" table shows).
        if name == "send-loop" { return try sendCost(fromTask: false, count: count) }
        if name == "send-task" { return try sendCost(fromTask: true, count: count) }
        // Median round trip in µs of requests on a request channel, 16 B over tcp.
        if name == "request-loop" { return Stats.percentile(try requestLatency(awaited: false, size: 16, count: count), 0.5) }
        if name == "request-task" { return Stats.percentile(try requestLatency(awaited: true, size: 16, count: count), 0.5) }
        // Messages per second into a streamed channel read by a task, 16 B over inproc.
        if name == "stream-inproc-16" { return try throughputStream(.inproc, size: 16, count: count) }
        // <c|swift|borrowed>-[fanout-]<tcp|inproc>-<16|1024|…|trade|update>, send-<c|swift>-<shape>
        let parts = name.split(separator: "-").map(String.init)
        let usage = "--single: expected <c|swift|borrowed>-[fanout-]<tcp|inproc>-<size|trade|update> or send-<c|swift>-<size|trade>, got \(name)"
        guard let shape = parts.last.flatMap(Shape.init(token:)) else { throw BenchError(usage) }
        if parts.count == 3, parts[0] == "send" {
            switch parts[1] {
            case "c": return try sendRateC(shape, count: count)
            case "swift": return try sendRateSwift(shape, count: count)
            default: throw BenchError(usage)
            }
        }
        guard parts.count >= 3, let transport = Transport(rawValue: parts[parts.count - 2]) else { throw BenchError(usage) }
        let side = parts[0]
        let fanout = parts.count == 4 && parts[1] == "fanout"
        guard parts.count == 3 || fanout else { throw BenchError(usage) }
        if fanout {
            guard case .string(let size) = shape else { throw BenchError(usage) }
            switch side {
            case "c": return try fanoutC(transport, subscribers: 4, size: size, count: count)
            case "swift": return try fanoutSwift(transport, .owned, subscribers: 4, size: size, count: count)
            case "borrowed": return try fanoutSwift(transport, .borrowed, subscribers: 4, size: size, count: count)
            default: throw BenchError(usage)
            }
        }
        switch side {
        case "c": return try throughputC(transport, shape, count: count)
        case "swift": return try throughputSwift(transport, shape, .owned, count: count)
        case "borrowed": return try throughputSwift(transport, shape, .borrowed, count: count)
        default: throw BenchError(usage)
        }
    }

    private func progress(_ what: String, _ row: Comparison) {
        FileHandle.standardError.write(
            "zbench: \(what): C \(Int(row.cMedian))/s, Swift \(Int(row.swiftMedian))/s, ratio \(String(format: "%.3f", row.ratioMedian))\n"
                .data(using: .utf8)!)
    }

    /// Runs C and Swift alternately `pairs` times (the order flips every pair).
    private func compare(pairs: Int, c: () throws -> Double, swift: () throws -> Double) throws -> Comparison {
        var cRates: [Double] = []
        var swiftRates: [Double] = []
        for pair in 0..<pairs {
            if pair % 2 == 0 {
                cRates.append(try c())
                swiftRates.append(try swift())
            } else {
                swiftRates.append(try swift())
                cRates.append(try c())
            }
        }
        return Comparison(c: cRates, swift: swiftRates)
    }

    private func latency(pairs: Int, size: Int, count: Int) throws -> LatencyRow {
        var c: [[Double]] = []
        var swift: [[Double]] = []
        for pair in 0..<pairs {
            // The first round trip includes connecting: leave it out of both.
            if pair % 2 == 0 {
                c.append(Array(try latencyC(.tcp, size: size, count: count).dropFirst()))
                swift.append(Array(try latencySwift(.tcp, size: size, count: count).dropFirst()))
            } else {
                swift.append(Array(try latencySwift(.tcp, size: size, count: count).dropFirst()))
                c.append(Array(try latencyC(.tcp, size: size, count: count).dropFirst()))
            }
        }
        let ratios = zip(c, swift).map { Stats.percentile($1, 0.5) / Stats.percentile($0, 0.5) }
        let row = LatencyRow(
            size: size, roundTrips: count,
            cMedian: Stats.median(c.map { Stats.percentile($0, 0.5) }),
            cP99: Stats.median(c.map { Stats.percentile($0, 0.99) }),
            swiftMedian: Stats.median(swift.map { Stats.percentile($0, 0.5) }),
            swiftP99: Stats.median(swift.map { Stats.percentile($0, 0.99) }),
            ratioMedian: Stats.median(ratios), ratioMin: ratios.min() ?? 0, ratioMax: ratios.max() ?? 0)
        FileHandle.standardError.write(
            "zbench: latency \(size) B: C \(row.cMedian) µs, Swift \(row.swiftMedian) µs\n".data(using: .utf8)!)
        return row
    }
}

// MARK: The generator, start-up, idle CPU, memory, pyzmq

/// A schema with `channels` channels: producer/consumer daemon pairs of 10 channels each.
func syntheticSchema(channels: Int) -> String {
    var daemons: [String] = []
    let perDaemon = 10
    var made = 0
    var index = 0
    while made < channels {
        let width = min(perDaemon, (channels - made + 1) / 2)
        var producer: [String] = []
        var consumer: [String] = []
        for channel in 0..<width {
            let endpoint = "inproc://d\(index)-c\(channel)"
            producer.append(#""out\#(channel)": {"socket": "PUSH", "endpoint": "\#(endpoint)", "bind": true, "message": "Tick"}"#)
            consumer.append(#""in\#(channel)": {"socket": "PULL", "endpoint": "\#(endpoint)", "message": "Tick"}"#)
        }
        daemons.append(#""Producer\#(index)": {"title": "(p:\#(index))", "channels": {\#(producer.joined(separator: ", "))}}"#)
        daemons.append(#""Consumer\#(index)": {"title": "(c:\#(index))", "channels": {\#(consumer.joined(separator: ", "))}}"#)
        made += 2 * width
        index += 1
    }
    return #"""
        {"zgen": 1, "app": "synthetic",
         "messages": {"Tick": {"frames": [{"name": "sequence", "type": "uint64"}, {"name": "note", "type": "string"}]}},
         "daemons": {\#(daemons.joined(separator: ",\n"))}}
        """#
}

func generatorGrowth(sizes: [Int]) throws -> [GeneratorRow] {
    var rows: [GeneratorRow] = []
    for channels in sizes {
        let text = Array(syntheticSchema(channels: channels).utf8)
        var times: [Double] = []
        for _ in 0..<3 {
            let begin = zb_now()
            let result = ZGen.generate(schemaAt: "synthetic.json", contents: text)
            times.append(zb_now() - begin)
            guard !result.hasErrors, result.file != nil else {
                throw BenchError("synthetic schema failed: \(result.formattedDiagnostics.prefix(3))")
            }
        }
        let seconds = Stats.median(times)
        let growth = rows.last.map { seconds / $0.seconds }
        rows.append(GeneratorRow(channels: channels, seconds: seconds, growth: growth))
        FileHandle.standardError.write("zbench: generator \(channels) channels: \(seconds) s\n".data(using: .utf8)!)
    }
    return rows
}

/// An idle daemon: it only waits.
final class IdleSink: Bench.SinkHandlers {
    func onInput(_ message: Bench.Payload, daemon: Bench.Sink) throws {}
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func startup(samples: Int, idleSeconds: Double) throws -> StartupRow {
    let context = try ZMQContext()
    var times: [Double] = []
    var idle = 0.0
    for sample in 0..<samples {
        let configuration = quietConfiguration(
            Bench.Sink.self, context: context, overrides: [.input: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"], bind: true)])
        let begin = zb_now()
        let handle = try DaemonThread.start(name: "zbench-start") {
            try Bench.Sink(handlers: IdleSink(), configuration: configuration)
        }
        guard handle.waitUntilStarted(timeout: .seconds(10)) else { throw BenchError("daemon did not start") }
        times.append((zb_now() - begin) * 1000)
        if sample == samples - 1 {
            let cpu = cpuSeconds()
            let wall = zb_now()
            Thread.sleep(forTimeInterval: idleSeconds)
            idle = (cpuSeconds() - cpu) / (zb_now() - wall) * 100
        }
        handle.terminate()
        _ = handle.waitUntilFinished()
    }
    FileHandle.standardError.write("zbench: start-up \(Stats.median(times)) ms, idle CPU \(idle) %\n".data(using: .utf8)!)
    return StartupRow(startupMedianMs: Stats.median(times), startupMaxMs: times.max() ?? 0, idleCPUPercent: idle)
}

/// The resident set size now, from /proc/self/statm, in MiB.
func residentMiB() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
        let pages = text.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
    else { return 0 }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

/// Resident memory as the stream goes on: a flat line means no per-message growth.
final class RSSSink: Bench.SinkHandlers {
    let checkpoints: [Int]
    let results: SharedSamples
    var received = 0

    init(checkpoints: [Int], results: SharedSamples) {
        self.checkpoints = checkpoints
        self.results = results
    }

    func onInput(_ message: Bench.Payload, daemon: Bench.Sink) throws {
        received += 1
        if checkpoints.contains(received) {
            results.values.withLock { $0.append(residentMiB()) }
            if received == checkpoints.last { daemon.terminate() }
        }
    }
}

/// A long stream with libzmq's default high-water marks on both sides (so the sender, not
/// memory, absorbs the difference in speed), sampling the daemon process's RSS.
func memorySoak(checkpoints: [Int]) throws -> [MemoryRow] {
    let context = try ZMQContext()
    let results = SharedSamples()
    let configuration = quietConfiguration(
        Bench.Sink.self, context: context,
        overrides: [.input: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"], bind: true, hwm: 1000)])
    let before = residentMiB()
    let handle = try DaemonThread.start(name: "zbench-soak") {
        try Bench.Sink(handlers: RSSSink(checkpoints: checkpoints, results: results), configuration: configuration)
    }
    let bound = try boundEndpoint(handle, Bench.Sink.Channel.input, "Sink")
    let sender = try startSender(context, [bound], sizes: [16], count: checkpoints.last ?? 0, publish: false, hwm: 1000)
    _ = handle.waitUntilFinished()
    _ = zb_join(sender)
    let rss = results.values.withLock { $0 }
    guard rss.count == checkpoints.count else { throw BenchError("memory run stopped early") }
    FileHandle.standardError.write("zbench: RSS before \(before) MiB, at checkpoints \(rss) MiB\n".data(using: .utf8)!)
    return zip(checkpoints, rss).map { MemoryRow(messages: $0, rssMiB: $1) }
}

/// The seed's engine: pyzmq with a blocking receive loop, against the same C sender.
func pythonThroughput(count: Int, cRate: Double?) throws -> PythonRow {
    let script = """
        import sys, time
        import zmq
        n = int(sys.argv[1])
        ctx = zmq.Context()
        s = ctx.socket(zmq.PULL)
        s.setsockopt(zmq.RCVHWM, 0)
        s.bind("tcp://127.0.0.1:*")
        print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
        s.recv()
        t = time.monotonic()
        for _ in range(n - 1):
            s.recv()
        print(time.monotonic() - t, flush=True)
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, String(count)]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return PythonRow(note: "skipped: python3 not found") }
    let reader = output.fileHandleForReading
    var buffer = ""
    func line() -> String? {
        while !buffer.contains("\n") {
            let data = reader.availableData
            if data.isEmpty { return nil }
            buffer += String(decoding: data, as: UTF8.self)
        }
        let index = buffer.firstIndex(of: "\n")!
        defer { buffer = String(buffer[buffer.index(after: index)...]) }
        return String(buffer[..<index])
    }
    guard let endpoint = line(), endpoint.hasPrefix("tcp://") else {
        process.waitUntilExit()
        return PythonRow(note: "skipped: pyzmq does not import (python3 -m pip install pyzmq)")
    }
    let context = try ZMQContext()
    let sender = try startSender(context, [endpoint], sizes: [16], count: count, publish: false)
    let seconds = line().flatMap(Double.init)
    process.waitUntilExit()
    _ = zb_join(sender)
    guard let seconds, seconds > 0 else { return PythonRow(note: "pyzmq run failed") }
    let rate = Double(count - 1) / seconds
    FileHandle.standardError.write("zbench: pyzmq \(Int(rate))/s\n".data(using: .utf8)!)
    return PythonRow(messagesPerSecond: rate, ratioToC: cRate.map { rate / $0 }, note: nil)
}
