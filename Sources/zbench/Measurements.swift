import CZBench
import CZeroMQ
import Foundation
import Generated
import Synchronization
import ZDaemon

/// Where a benchmark's sockets meet.
enum Transport: String, CaseIterable {
    case tcp, inproc

    /// The name in tables: over tcp, the sender is a process of its own.
    var label: String {
        switch self {
        case .tcp: "tcp, sender process"
        case .inproc: "inproc"
        }
    }

    /// A fresh endpoint for a socket that binds: an OS-chosen loopback port or a unique inproc name.
    func endpoint(_ tag: String) -> String {
        switch self {
        case .tcp: return "tcp://127.0.0.1:*"
        case .inproc: return "inproc://zbench-\(tag)-\(UUID().uuidString)"
        }
    }
}

/// A failure of the benchmark itself (not a slow result).
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A value written once on a daemon's thread and read after it finished.
final class Outcome: Sendable {
    private let value = Mutex<Double?>(nil)
    func set(_ seconds: Double) { value.withLock { $0 = $0 ?? seconds } }
    var seconds: Double? { value.withLock { $0 } }
}

/// Bench daemons log at warning level only: the measurements should not pay for log lines.
func quietConfiguration<D: TypedDaemon>(_ daemon: D.Type, context: ZMQContext, overrides: [D.Channel: ChannelOverride]) -> DaemonConfiguration {
    var configuration = DaemonConfiguration()
    configuration.context = context
    for (channel, change) in overrides { D.override(channel, with: change, in: &configuration) }
    configuration.blockingThreshold = .zero
    configuration.makeLogger = { label in
        var logger = Logger(label: label)
        logger.logLevel = .warning
        return logger
    }
    return configuration
}

func boundEndpoint(_ handle: DaemonHandle, _ channel: some DaemonChannel, _ what: String) throws -> String {
    guard handle.waitUntilStarted(timeout: .seconds(10)), let endpoint = handle.boundEndpoints(channel).first else {
        throw BenchError("\(what) did not start: \(handle.error.map { "\($0)" } ?? "timeout")")
    }
    return endpoint
}

/// The text of a NUL-terminated C buffer.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) throws -> R) rethrows -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    return try body(copies.map { UnsafePointer($0) })
}

func openCReceiver(_ context: ZMQContext, _ endpoint: String, subscribe: Bool) throws -> (UnsafeMutableRawPointer, String) {
    var bound = [CChar](repeating: 0, count: 256)
    guard let socket = zb_open_receiver(context.handle, endpoint, subscribe ? 1 : 0, &bound, bound.count) else {
        throw BenchError("C receiver on \(endpoint) failed")
    }
    return (socket, cString(bound))
}

// MARK: Latency, REQ <-> REP

final class PingingRequester: Bench.RequesterHandlers {
    let payload: Bench.Payload
    let count: Int
    let samples: SharedSamples
    var started = 0.0
    var done = 0

    init(size: Int, count: Int, samples: SharedSamples) {
        self.payload = Bench.Payload(text: String(repeating: "x", count: size))
        self.count = count
        self.samples = samples
    }

    func start(_ daemon: Bench.Requester) throws {
        started = zb_now()
        try daemon.sendEcho(payload)
    }

    func onEcho(_ reply: Result<Bench.Payload, RequestFailure<Never>>, daemon: Bench.Requester) throws {
        let now = zb_now()
        _ = try reply.get()
        let micros = (now - started) * 1e6
        samples.values.withLock { $0.append(micros) }
        done += 1
        if done == count {
            daemon.terminate()
            return
        }
        started = zb_now()
        try daemon.sendEcho(payload)
    }
}

/// Round-trip times in microseconds with the C REQ loop.
func latencyC(_ transport: Transport, size: Int, count: Int) throws -> [Double] {
    let context = try ZMQContext()
    var bound = [CChar](repeating: 0, count: 256)
    guard let socket = zb_open_requester(context.handle, transport.endpoint("c-req"), &bound, bound.count) else {
        throw BenchError("C requester failed")
    }
    guard let echo = zb_start_echo(context.handle, cString(bound), count, 0) else {
        throw BenchError("echo server failed")
    }
    var samples = [Double](repeating: 0, count: count)
    let rc = zb_run_requester(socket, size, count, &samples)
    guard zb_join(echo) == 0, rc == 0 else { throw BenchError("C latency run failed") }
    return samples
}

/// Round-trip times in microseconds with a generated REQ daemon.
func latencySwift(_ transport: Transport, size: Int, count: Int) throws -> [Double] {
    let context = try ZMQContext()
    // The first request waits in the channel's queue until the echo server has connected.
    let configuration = quietConfiguration(
        Bench.Requester.self, context: context, overrides: [.echo: ChannelOverride(endpoints: [transport.endpoint("swift-req")], bind: true)])
    let shared = SharedSamples()
    let handle = try DaemonThread.start(name: "zbench-req") {
        let handlers = PingingRequester(size: size, count: count, samples: shared)
        let requester = try Bench.Requester(handlers: handlers, configuration: configuration)
        requester.onStart(handlers.start)
        return requester
    }
    let bound = try boundEndpoint(handle, Bench.Requester.Channel.echo, "Requester")
    // The generated REQ speaks zgen's layout: each reply starts with the `ok` status frame.
    guard let echo = zb_start_echo(context.handle, bound, count, 1) else { throw BenchError("echo server failed") }
    _ = handle.waitUntilFinished()
    let result = shared.values.withLock { $0 }
    guard zb_join(echo) == 0, result.count == count else { throw BenchError("Swift latency run failed") }
    return result
}

/// Samples written on the requester's thread, read after it finished.
final class SharedSamples: Sendable {
    let values = Mutex<[Double]>([])
}

// MARK: Sending: from a handler on the loop, or awaited from a task through the client

/// Seconds per send of `count` 16-byte payloads on the generated `Bench.Source` over inproc to a
/// PULL that keeps up: from its start hook on the loop (`sendOutput` in a loop), or from a task,
/// each send awaited through its `DaemonClient` (a hop to the loop and back per message).
func sendCost(fromTask: Bool, count: Int) throws -> Double {
    let context = try ZMQContext()
    let endpoint = Transport.inproc.endpoint("send")
    let configuration = quietConfiguration(
        Bench.Source.self, context: context, overrides: [.output: ChannelOverride(endpoints: [endpoint], bind: true)])
    let sink = try Socket(.pull, context: context, linger: 0)
    defer { sink.close(linger: 0) }
    try sink.setOption(.receiveHWM(0))
    try sink.connect(endpoint)
    let payload = Bench.Payload(text: String(repeating: "x", count: 16))
    let outcome = Outcome()
    let failure = Mutex<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    if fromTask {
        Task {
            do {
                let client = try await Bench.Source.start(name: "zbench-source") { try Bench.Source(configuration: configuration) }
                await client.started()
                let begin = zb_now()
                for _ in 0..<count { try await client.send { try $0.sendOutput(payload) } }
                outcome.set(zb_now() - begin)
                client.terminate()
                try await client.finished()
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
    } else {
        let handle = try startTimedSends("zbench-source", outcome: outcome) { try Bench.Source(configuration: configuration) } sends: { source in
            for _ in 0..<count { try source.sendOutput(payload) }
        }
        // A GCD thread, not the cooperative pool, waits for the run; this thread reads the sink.
        DispatchQueue.global().async {
            handle.waitUntilFinished()
            if let error = handle.error { failure.withLock { $0 = error } }
            done.signal()
        }
    }
    var received = 0
    while received < count, try sink.poll(.readable, timeout: .seconds(30)).contains(.readable) {
        while try sink.receive(dontWait: true) != nil { received += 1 }
    }
    done.wait()
    if let error = failure.withLock({ $0 }) { throw error }
    guard received == count, let seconds = outcome.seconds else {
        throw BenchError("send cost run failed: \(received) of \(count) received")
    }
    return seconds / Double(count)
}

// MARK: Receiving: a handler on the loop, or a task reading the channel's stream

/// Messages per second through a streamed channel (`Bench.StreamSink`, `"stream": true`) read by
/// a task with `for try await`, from the C sender: the handler figure's counterpart.
func throughputStream(_ transport: Transport, size: Int, count: Int) throws -> Double {
    let context = try ZMQContext()
    let configuration = quietConfiguration(
        Bench.StreamSink.self, context: context, overrides: [.input: ChannelOverride(endpoints: [transport.endpoint("stream")], bind: true)])
    let handle = try DaemonThread.start(name: "zbench-stream") { try Bench.StreamSink(configuration: configuration) }
    guard let client = DaemonClient<Bench.StreamSink>(unchecked: handle) else { throw BenchError("not a StreamSink") }
    let bound = try boundEndpoint(handle, Bench.StreamSink.Channel.input, "StreamSink")
    let outcome = Outcome()
    let failure = Mutex<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        var timer = StreamTimer(expected: count, outcome: outcome)
        do {
            for try await message in client.inputMessages where timer.count(message) { break }
        } catch {
            failure.withLock { $0 = error }
        }
        done.signal()
    }
    let sender = try startSender(context, [bound], sizes: [size], count: count, publish: false)
    done.wait()  // this thread is not the cooperative pool's
    handle.terminate()
    _ = handle.waitUntilFinished()
    if let error = failure.withLock({ $0 }) { throw BenchError("stream throughput run failed: \(error)") }
    guard zb_join(sender) == 0, let seconds = outcome.seconds, seconds > 0 else {
        throw BenchError("stream throughput run failed: \(handle.error.map { "\($0)" } ?? "no result")")
    }
    return Double(count) / seconds
}

// MARK: Requests: awaited from a task, or from the loop, on a request channel (DEALER -> ROUTER)

/// Round-trip times in microseconds of requests on the generated `Bench.Caller` to a generated
/// `Bench.Server` that echoes, over tcp: each awaited from a task through the client
/// (`requestCalls`), or made from the loop with a completion that sends the next.
func requestLatency(awaited: Bool, size: Int, count: Int) throws -> [Double] {
    let context = try ZMQContext()
    let serverConfiguration = quietConfiguration(
        Bench.Server.self, context: context, overrides: [.calls: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"])])
    let server = try DaemonThread.start(name: "zbench-server") {
        try Bench.Server(handlers: EchoServer(), configuration: serverConfiguration)
    }
    let endpoint = try boundEndpoint(server, Bench.Server.Channel.calls, "Server")
    let callerConfiguration = quietConfiguration(
        Bench.Caller.self, context: context, overrides: [.calls: ChannelOverride(endpoints: [endpoint])])
    let payload = Bench.Payload(text: String(repeating: "x", count: size))
    let samples = SharedSamples()
    let failure = Mutex<(any Error)?>(nil)
    let done = DispatchSemaphore(value: 0)
    if awaited {
        Task {
            do {
                try await Bench.Caller.withRunning(name: "zbench-caller", { try Bench.Caller(configuration: callerConfiguration) }) { caller in
                    var times: [Double] = []
                    times.reserveCapacity(count)
                    for _ in 0..<count {
                        let begin = zb_now()
                        _ = try await caller.requestCalls(payload)
                        times.append((zb_now() - begin) * 1e6)
                    }
                    samples.values.withLock { $0 = times }
                }
            } catch {
                failure.withLock { $0 = error }
            }
            done.signal()
        }
    } else {
        let caller = try DaemonThread.start(name: "zbench-caller") {
            let caller = try Bench.Caller(configuration: callerConfiguration)
            let chain = RequestChain(payload: payload, count: count, samples: samples)
            caller.onStart { try chain.next($0) }
            return caller
        }
        DispatchQueue.global().async {
            caller.waitUntilFinished()
            if let error = caller.error { failure.withLock { $0 = error } }
            done.signal()
        }
    }
    done.wait()
    server.terminate()
    server.waitUntilFinished()
    if let error = failure.withLock({ $0 }) { throw BenchError("request latency run failed: \(error)") }
    let result = samples.values.withLock { $0 }
    guard result.count == count else { throw BenchError("request latency run failed: \(result.count) of \(count) round trips") }
    return result
}

/// The server under test: answers each request with itself.
final class EchoServer: Bench.ServerHandlers {
    func onCalls(_ request: Bench.Payload, reply: Responder<Bench.Payload, Never>, daemon: Bench.Server) throws {
        try reply.reply(request)
    }
}

/// Requests from the loop, one after another: each completion records the round trip and sends the next.
final class RequestChain {
    let payload: Bench.Payload
    let count: Int
    let samples: SharedSamples
    var times: [Double] = []
    var started = 0.0

    init(payload: Bench.Payload, count: Int, samples: SharedSamples) {
        self.payload = payload
        self.count = count
        self.samples = samples
    }

    func next(_ caller: Bench.Caller) throws {
        started = zb_now()
        try caller.requestCalls(payload) { [self] result, caller in
            times.append((zb_now() - started) * 1e6)
            if (try? result.get()) == nil || times.count == count {
                samples.values.withLock { $0 = times }
                caller.terminate()
                return
            }
            do { try next(caller) } catch { caller.terminate() }
        }
    }
}
