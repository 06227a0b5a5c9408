import CZBench
import CZeroMQ
import Foundation
import Generated
import ZDaemon

// The message shapes zbench measures, the two handler forms, the load generator (a thread in
// this process, or for tcp a process of its own), and the receive and send cases built on them.

/// What a benchmark message is made of.
enum Shape: Hashable, CustomStringConvertible {
    /// `Bench.Payload`: one UTF-8 string frame of this many bytes.
    case string(Int)
    /// `Bench.Trade`: a `uint64`, a 16-byte string, a `double`.
    case trade
    /// `Bench.Update`: a 16-byte topic string and a 1 KiB bytes frame.
    case update

    /// The bytes of each part, in order.
    var sizes: [Int] {
        switch self {
        case .string(let size): [size]
        case .trade: [8, 16, 8]
        case .update: [16, 1024]
        }
    }

    var description: String {
        switch self {
        case .string(let size): "string \(size >= 1024 ? "\(size / 1024) KiB" : "\(size) B")"
        case .trade: "uint64 + string 16 B + double"
        case .update: "topic 16 B + bytes 1 KiB"
        }
    }

    /// `16`, `1024`, `trade`, `update`: the name in `--single` cases.
    var token: String {
        switch self {
        case .string(let size): String(size)
        case .trade: "trade"
        case .update: "update"
        }
    }

    init?(token: String) {
        switch token {
        case "trade": self = .trade
        case "update": self = .update
        default:
            guard let size = Int(token), size > 0 else { return nil }
            self = .string(size)
        }
    }
}

/// How the handler under test takes a message.
enum Form: String, CaseIterable {
    /// A generated message struct with owned fields (`String`, `[UInt8]`).
    case owned
    /// `"borrow": true`: the fields in place (`UTF8Span`, `Span<UInt8>`, values).
    case borrowed
}

// MARK: The load generator

/// The C sender, on a thread of this process or (``Transport/tcp``) in a process of its own,
/// so that the receiving process does nothing but receive.
enum Load {
    case thread(OpaquePointer)
    case process(Process)

    /// Starts `count` messages of `shape` to `endpoints` (an XPUB that waits for one subscriber
    /// per endpoint when `publish`).
    static func start(_ context: ZMQContext, _ transport: Transport, _ endpoints: [String], shape: Shape, count: Int,
                      publish: Bool, hwm: Int32 = 0) throws -> Load {
        if transport == .tcp {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.arguments = ["--sender-process", "--endpoints", endpoints.joined(separator: ","),
                                 "--parts", shape.sizes.map(String.init).joined(separator: ","),
                                 "--count", String(count), "--hwm", String(hwm)] + (publish ? ["--publish"] : [])
            try process.run()
            return .process(process)
        }
        return .thread(try startSender(context, endpoints, sizes: shape.sizes, count: count, publish: publish, hwm: hwm))
    }

    /// Waits for the sender to finish; false when it failed.
    func join() -> Bool {
        switch self {
        case .thread(let peer): return zb_join(peer) == 0
        case .process(let process):
            process.waitUntilExit()
            return process.terminationStatus == 0
        }
    }
}

func startSender(_ context: ZMQContext, _ endpoints: [String], sizes: [Int], count: Int, publish: Bool, hwm: Int32 = 0)
    throws -> OpaquePointer
{
    let peer = withCStrings(endpoints) { pointers in
        pointers.withUnsafeBufferPointer { endpointList in
            sizes.withUnsafeBufferPointer { sizeList in
                sizeList.withMemoryRebound(to: Int.self) { parts in
                    zb_start_sender(context.handle, endpointList.baseAddress, Int32(endpoints.count), parts.baseAddress,
                                    Int32(sizes.count), count, publish ? 1 : 0, hwm)
                }
            }
        }
    }
    guard let peer else { throw BenchError("sender to \(endpoints) failed: \(String(cString: zmq_strerror(errno)))") }
    return peer
}

/// `zbench --sender-process`: the C sender in a process of its own (what ``Load`` starts for tcp).
func runSenderProcess(endpoints: [String], sizes: [Int], count: Int, publish: Bool, hwm: Int32) throws {
    let context = try ZMQContext()
    let peer = try startSender(context, endpoints, sizes: sizes, count: count, publish: publish, hwm: hwm)
    guard zb_join(peer) == 0 else { throw BenchError("sender failed") }
}

// MARK: The handlers under test: each reads every field of every message

/// Times a stream from its first message to its `expected`-th.
struct StreamTimer {
    let expected: Int
    let outcome: Outcome
    var received = 0
    /// What the handlers read, summed, so that no read is optimised away.
    var touched = 0
    var first = 0.0

    /// Counts one message that read `touched`; true when it was the last one (the outcome is then set).
    @inline(__always)
    mutating func count(_ touched: Int) -> Bool {
        if received == 0 { first = zb_now() }
        received += 1
        self.touched &+= touched
        guard received == expected else { return false }
        outcome.set(zb_now() - first)
        return true
    }

    /// Counts a `Payload`.
    mutating func count(_ message: Bench.Payload) -> Bool { count(message.text.utf8.count) }
}

/// Reads of each shape's fields, owned and borrowed: sizes, and the numbers' bits.
enum Touch {
    @inline(__always) static func trade(_ id: UInt64, _ symbolCount: Int, _ price: Double) -> Int {
        Int(truncatingIfNeeded: id) &+ symbolCount &+ Int(truncatingIfNeeded: price.bitPattern)
    }
}

/// One class for every sink protocol: the handlers differ only in what they read.
final class Counting: Bench.SinkHandlers, Bench.BorrowingSinkHandlers, Bench.TradeSinkHandlers,
    Bench.BorrowingTradeSinkHandlers, Bench.UpdateSinkHandlers, Bench.BorrowingUpdateSinkHandlers,
    Bench.SubscriberHandlers, Bench.BorrowingSubscriberHandlers
{
    // Used on its daemon's loop only. Unchecked: a class's stored `var` otherwise costs a dynamic
    // exclusivity check (swift_beginAccess/endAccess, ~80 instructions) on every access.
    @exclusivity(unchecked) var timer: StreamTimer

    init(expected: Int, outcome: Outcome) {
        timer = StreamTimer(expected: expected, outcome: outcome)
    }

    func onInput(_ message: Bench.Payload, daemon: Bench.Sink) throws {
        if timer.count(message.text.utf8.count) { daemon.terminate() }
    }

    func onInput(text: UTF8Span, daemon: Bench.BorrowingSink) throws {
        if timer.count(text.count) { daemon.terminate() }
    }

    func onInput(_ message: Bench.Trade, daemon: Bench.TradeSink) throws {
        if timer.count(Touch.trade(message.id, message.symbol.utf8.count, message.price)) { daemon.terminate() }
    }

    func onInput(id: UInt64, symbol: UTF8Span, price: Double, daemon: Bench.BorrowingTradeSink) throws {
        if timer.count(Touch.trade(id, symbol.count, price)) { daemon.terminate() }
    }

    func onInput(_ message: Bench.Update, daemon: Bench.UpdateSink) throws {
        if timer.count(message.topic.utf8.count &+ message.body.count) { daemon.terminate() }
    }

    func onInput(topic: UTF8Span, body: Span<UInt8>, daemon: Bench.BorrowingUpdateSink) throws {
        if timer.count(topic.count &+ body.count) { daemon.terminate() }
    }

    func onFeed(_ message: Bench.Payload, daemon: Bench.Subscriber) throws {
        if timer.count(message.text.utf8.count) { daemon.terminate() }
    }

    func onFeed(text: UTF8Span, daemon: Bench.BorrowingSubscriber) throws {
        if timer.count(text.count) { daemon.terminate() }
    }
}

/// Starts the sink daemon for `shape` and `form` on a thread; returns its handle and bound endpoint.
func startSink(_ shape: Shape, _ form: Form, context: ZMQContext, endpoint: String, count: Int, outcome: Outcome)
    throws -> (DaemonHandle, String)
{
    func run<D: TypedDaemon>(_ type: D.Type, _ channel: D.Channel, _ make: @escaping @Sendable (DaemonConfiguration, Counting) throws -> D)
        throws -> (DaemonHandle, String) where D: DaemonHosting
    {
        let configuration = quietConfiguration(D.self, context: context, overrides: [channel: ChannelOverride(endpoints: [endpoint], bind: true)])
        let handle = try DaemonThread.start(name: "zbench-sink") { try make(configuration, Counting(expected: count, outcome: outcome)) }
        return (handle, try boundEndpoint(handle, channel, "\(D.self)"))
    }
    switch (shape, form) {
    case (.string, .owned): return try run(Bench.Sink.self, .input) { try Bench.Sink(handlers: $1, configuration: $0) }
    case (.string, .borrowed): return try run(Bench.BorrowingSink.self, .input) { try Bench.BorrowingSink(handlers: $1, configuration: $0) }
    case (.trade, .owned): return try run(Bench.TradeSink.self, .input) { try Bench.TradeSink(handlers: $1, configuration: $0) }
    case (.trade, .borrowed): return try run(Bench.BorrowingTradeSink.self, .input) { try Bench.BorrowingTradeSink(handlers: $1, configuration: $0) }
    case (.update, .owned): return try run(Bench.UpdateSink.self, .input) { try Bench.UpdateSink(handlers: $1, configuration: $0) }
    case (.update, .borrowed): return try run(Bench.BorrowingUpdateSink.self, .input) { try Bench.BorrowingUpdateSink(handlers: $1, configuration: $0) }
    }
}

// MARK: Throughput, PUSH -> PULL

/// Messages per second through the C receive loop.
func throughputC(_ transport: Transport, _ shape: Shape, count: Int) throws -> Double {
    let context = try ZMQContext()
    let (socket, bound) = try openCReceiver(context, transport.endpoint("c"), subscribe: false)
    let load = try Load.start(context, transport, [bound], shape: shape, count: count, publish: false)
    let seconds = zb_run_receiver(socket, count)
    guard load.join(), seconds > 0 else { throw BenchError("C throughput run failed") }
    return Double(count) / seconds
}

/// Messages per second through a generated daemon's typed handler.
func throughputSwift(_ transport: Transport, _ shape: Shape, _ form: Form, count: Int) throws -> Double {
    let context = try ZMQContext()
    let outcome = Outcome()
    let (handle, bound) = try startSink(shape, form, context: context, endpoint: transport.endpoint("swift"), count: count, outcome: outcome)
    let load = try Load.start(context, transport, [bound], shape: shape, count: count, publish: false)
    _ = handle.waitUntilFinished()
    guard load.join(), let seconds = outcome.seconds, seconds > 0 else {
        throw BenchError("Swift throughput run failed: \(handle.error.map { "\($0)" } ?? "no result")")
    }
    return Double(count) / seconds
}

// MARK: Fan-out, PUB -> 4 SUB

/// Messages per second per subscriber (the slowest one) with C SUB loops.
func fanoutC(_ transport: Transport, subscribers: Int, size: Int, count: Int) throws -> Double {
    let context = try ZMQContext()
    var sockets: [UnsafeMutableRawPointer?] = []
    var endpoints: [String] = []
    for index in 0..<subscribers {
        let (socket, bound) = try openCReceiver(context, transport.endpoint("c-sub\(index)"), subscribe: true)
        sockets.append(socket)
        endpoints.append(bound)
    }
    let load = try Load.start(context, transport, endpoints, shape: .string(size), count: count, publish: true)
    let seconds = sockets.withUnsafeBufferPointer { zb_run_receivers($0.baseAddress, Int32(subscribers), count) }
    guard load.join(), seconds > 0 else { throw BenchError("C fan-out run failed") }
    return Double(count) / seconds
}

/// Messages per second per subscriber (the slowest one) with generated SUB daemons.
func fanoutSwift(_ transport: Transport, _ form: Form, subscribers: Int, size: Int, count: Int) throws -> Double {
    let context = try ZMQContext()
    var handles: [DaemonHandle] = []
    var outcomes: [Outcome] = []
    var endpoints: [String] = []
    for index in 0..<subscribers {
        let outcome = Outcome()
        let endpoint = transport.endpoint("swift-sub\(index)")
        let handle: DaemonHandle
        switch form {
        case .owned:
            let configuration = quietConfiguration(Bench.Subscriber.self, context: context, overrides: [.feed: ChannelOverride(endpoints: [endpoint], bind: true)])
            handle = try DaemonThread.start(name: "zbench-sub\(index)") { try Bench.Subscriber(handlers: Counting(expected: count, outcome: outcome), configuration: configuration) }
            endpoints.append(try boundEndpoint(handle, Bench.Subscriber.Channel.feed, "Subscriber \(index)"))
        case .borrowed:
            let configuration = quietConfiguration(Bench.BorrowingSubscriber.self, context: context, overrides: [.feed: ChannelOverride(endpoints: [endpoint], bind: true)])
            handle = try DaemonThread.start(name: "zbench-sub\(index)") { try Bench.BorrowingSubscriber(handlers: Counting(expected: count, outcome: outcome), configuration: configuration) }
            endpoints.append(try boundEndpoint(handle, Bench.BorrowingSubscriber.Channel.feed, "BorrowingSubscriber \(index)"))
        }
        handles.append(handle)
        outcomes.append(outcome)
    }
    let load = try Load.start(context, transport, endpoints, shape: .string(size), count: count, publish: true)
    for handle in handles { _ = handle.waitUntilFinished() }
    let results = outcomes.compactMap(\.seconds)
    guard load.join(), results.count == subscribers, let worst = results.max(), worst > 0 else {
        throw BenchError("Swift fan-out run failed")
    }
    return Double(count) / worst
}

// MARK: Typed send against zmq_send

/// A C PULL on its own thread that reads `count` messages of any shape from `endpoint`.
private func startDrain(_ context: ZMQContext, count: Int) throws -> (endpoint: String, join: () -> Double) {
    let (socket, bound) = try openCReceiver(context, Transport.inproc.endpoint("drain"), subscribe: false)
    let result = Outcome()
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) let receiver = socket  // used by that thread only
    Thread {
        result.set(zb_run_receiver(receiver, count))
        done.signal()
    }.start()
    return (bound, {
        done.wait()
        return result.seconds ?? -1
    })
}

/// Messages per second sent by C's `zmq_send` loop over inproc to a C PULL that drains them.
func sendRateC(_ shape: Shape, count: Int) throws -> Double {
    let context = try ZMQContext()
    let drain = try startDrain(context, count: count)
    let socket = try Socket(.push, context: context, linger: 5000)
    defer { socket.close(linger: 5000) }
    try socket.setOption(.sendHWM(0))
    try socket.connect(drain.endpoint)
    let seconds = shape.sizes.withUnsafeBufferPointer { sizes in
        sizes.withMemoryRebound(to: Int.self) { zb_send_loop(socket.handle, $0.baseAddress, Int32(sizes.count), count) }
    }
    guard seconds > 0, drain.join() > 0 else { throw BenchError("C send run failed") }
    return Double(count) / seconds
}

/// Messages per second sent by a generated daemon's typed send (`sendOutput`) from its loop,
/// over inproc to the same C PULL.
func sendRateSwift(_ shape: Shape, count: Int) throws -> Double {
    let context = try ZMQContext()
    let drain = try startDrain(context, count: count)
    let outcome = Outcome()
    let override = ChannelOverride(endpoints: [drain.endpoint], bind: false)
    let handle: DaemonHandle
    switch shape {
    case .trade:
        let configuration = quietConfiguration(Bench.TradeSource.self, context: context, overrides: [.output: override])
        let trade = Bench.Trade(id: 42, symbol: String(repeating: "x", count: 16), price: 101.25)
        handle = try startTimedSends("zbench-trade-source", outcome: outcome) { try Bench.TradeSource(configuration: configuration) } sends: { source in
            for _ in 0..<count { try source.sendOutput(trade) }
        }
    default:
        let configuration = quietConfiguration(Bench.Source.self, context: context, overrides: [.output: override])
        let payload = Bench.Payload(text: String(repeating: "x", count: shape.sizes[0]))
        handle = try startTimedSends("zbench-source", outcome: outcome) { try Bench.Source(configuration: configuration) } sends: { source in
            for _ in 0..<count { try source.sendOutput(payload) }
        }
    }
    handle.waitUntilFinished()
    guard drain.join() > 0, let seconds = outcome.seconds, seconds > 0 else {
        throw BenchError("Swift send run failed: \(handle.error.map { "\($0)" } ?? "no result")")
    }
    return Double(count) / seconds
}

/// Starts `make`'s daemon on a thread of its own; its start hook runs `sends` on the loop, puts
/// the seconds it took into `outcome`, and terminates the daemon.
func startTimedSends<D: TypedDaemon & DaemonHosting>(
    _ name: String, outcome: Outcome, make: @escaping @Sendable () throws -> D, sends: @escaping @Sendable (D) throws -> Void
) throws -> DaemonHandle {
    try DaemonThread.start(name: name) {
        let source = try make()
        source.onStart { source in
            let begin = zb_now()
            try sends(source)
            outcome.set(zb_now() - begin)
            source.terminate()
        }
        return source
    }
}
