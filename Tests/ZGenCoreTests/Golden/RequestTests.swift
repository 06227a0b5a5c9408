import Foundation
import Synchronization
import Testing
import ZDaemon
import ZDaemonTesting

// Requests and replies (Pricing.swift from pricing.json): a Broker calls a Pricer over a request
// channel (DEALER → ROUTER, many in flight), a Desk asks it over REQ/REP.

struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

/// The Pricer's behaviour, chosen by the symbol: `S<n>` answers unless n % 20 is 0 (left
/// unanswered) or 1 (throws); `none` throws the declared error; `hold` keeps its responder for
/// the test to answer later. Touched on the Pricer's loop only (tests reach it through
/// `withDaemon`), hence `@unchecked Sendable`.
final class PricerLogic: Pricing.PricerHandlers, @unchecked Sendable {
    var held: [Responder<Pricing.Quote, Pricing.NoQuote>] = []

    func onQuotes(_ request: Pricing.QuoteRequest, reply: Responder<Pricing.Quote, Pricing.NoQuote>, daemon: Pricing.Pricer) throws {
        switch request.symbol {
        case "none": throw Pricing.NoQuote(reason: "no market for none")
        case "hold": held.append(reply)
        default:
            let n = Int(request.symbol.dropFirst()) ?? 0
            if n % 20 == 0 { return }  // never answered: the caller times out
            if n % 20 == 1 { throw Boom() }
            try reply.reply(Pricing.Quote(symbol: request.symbol, price: Double(n)))
        }
    }

    func onDesk(_ request: Pricing.QuoteRequest, daemon: Pricing.Pricer) throws -> Pricing.Quote {
        switch request.symbol {
        case "none": throw Pricing.NoQuote(reason: "no market for none")
        case "boom": throw Boom()
        default: return Pricing.Quote(symbol: request.symbol, price: 1.5)
        }
    }
}

/// The Desk's outcomes, in order.
final class DeskLog: Pricing.DeskHandlers, Sendable {
    let outcomes = Mutex<[Result<Pricing.Quote, RequestFailure<Pricing.NoQuote>>]>([])
    func onDesk(_ reply: Result<Pricing.Quote, RequestFailure<Pricing.NoQuote>>, daemon: Pricing.Desk) throws {
        outcomes.withLock { $0.append(reply) }
    }
    var all: [Result<Pricing.Quote, RequestFailure<Pricing.NoQuote>>] { outcomes.withLock { $0 } }
}

@Suite("Requests and replies")
struct RequestTests {
    /// A Pricer on fresh inproc endpoints (its quotes and desk channels), started.
    func pricer() async throws -> (DaemonClient<Pricing.Pricer>, quotes: String, desk: String, logic: PricerLogic) {
        let (quotes, desk) = (bindEndpoint(.inproc), bindEndpoint(.inproc))
        var settings = DaemonConfiguration()
        Pricing.Pricer.override(.quotes, with: ChannelOverride(endpoints: [quotes]), in: &settings)
        Pricing.Pricer.override(.desk, with: ChannelOverride(endpoints: [desk]), in: &settings)
        let configuration = settings
        let logic = PricerLogic()
        let client = try await Pricing.Pricer.start(name: "pricer") { try Pricing.Pricer(handlers: logic, configuration: configuration) }
        await client.started()
        return (client, quotes, desk, logic)
    }

    /// A Broker calling `endpoint`, with requests timing out after `timeout` ms.
    func broker(_ endpoint: String, timeout: Int = 200) async throws -> DaemonClient<Pricing.Broker> {
        var settings = DaemonConfiguration()
        Pricing.Broker.override(.quotes, with: ChannelOverride(endpoints: [endpoint], timeout: timeout), in: &settings)
        let configuration = settings
        let client = try await Pricing.Broker.start(name: "broker") { try Pricing.Broker(configuration: configuration) }
        await client.started()
        return client
    }

    func stop<A: TypedDaemon, B: TypedDaemon>(_ a: DaemonClient<A>, _ b: DaemonClient<B>) async throws {
        a.terminate()
        b.terminate()
        try await a.finished()
        try await b.finished()
    }

    @Test("50 tasks × 20 requests in flight: 90 % replies, 5 % remote failures, 5 % timeouts, counted exactly, none mismatched")
    func manyRequestsInFlight() async throws {
        let (pricer, quotes, _, _) = try await pricer()
        // Answered requests get the channel's long timeout (a loaded machine must not turn them
        // into timeouts); the never-answered ones a deadline of their own.
        let broker = try await broker(quotes, timeout: 30_000)
        let tally = try await withThrowingTaskGroup(of: (replies: Int, failures: Int, timeouts: Int, mismatched: Int).self) { group in
            for task in 0..<50 {
                group.addTask {
                    var tally = (replies: 0, failures: 0, timeouts: 0, mismatched: 0)
                    for k in 0..<20 {
                        let n = task * 20 + k
                        let symbol = "S\(n)"
                        do {
                            let deadline: Duration? = n % 20 == 0 ? .milliseconds(200) : nil
                            let quote = try await broker.requestQuotes(Pricing.QuoteRequest(symbol: symbol), timeout: deadline)
                            if quote.symbol == symbol && quote.price == Double(task * 20 + k) { tally.replies += 1 } else { tally.mismatched += 1 }
                        } catch RequestFailure<Pricing.NoQuote>.remote(let failure) {
                            if failure.reason == "boom" { tally.failures += 1 } else { tally.mismatched += 1 }
                        } catch RequestFailure<Pricing.NoQuote>.timeout {
                            tally.timeouts += 1
                        }
                    }
                    return tally
                }
            }
            return try await group.reduce(into: (replies: 0, failures: 0, timeouts: 0, mismatched: 0)) {
                $0.replies += $1.replies
                $0.failures += $1.failures
                $0.timeouts += $1.timeouts
                $0.mismatched += $1.mismatched
            }
        }
        #expect(tally.replies == 900)
        #expect(tally.failures == 50)
        #expect(tally.timeouts == 50)
        #expect(tally.mismatched == 0)
        let callerCounts = try await broker.withDaemon { $0.counters(.quotes) }
        #expect(callerCounts.sent == 1000 && callerCounts.failed == 100 && callerCounts.late == 0, "\(callerCounts)")
        let serverCounts = try await pricer.withDaemon { $0.counters(.quotes) }
        #expect(serverCounts.received == 1000 && serverCounts.sent == 950 && serverCounts.failed == 50 && serverCounts.handlerErrors == 50,
                "\(serverCounts)")
        try await stop(broker, pricer)
    }

    @Test("a reply after its request timed out is counted as late and never reaches a later request")
    func lateRepliesAreDropped() async throws {
        let (pricer, quotes, _, logic) = try await pricer()
        let broker = try await broker(quotes, timeout: 10_000)
        await #expect(throws: RequestFailure<Pricing.NoQuote>.timeout(RequestTimeout(channel: "quotes", milliseconds: 100))) {
            try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "hold"), timeout: .milliseconds(100))
        }
        // A second request is in flight when the first one's answer comes, late, and then its own.
        let second = Task { try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "hold")) }
        #expect(try await eventually(pricer) { _ in logic.held.count == 2 })
        try await pricer.withDaemon { _ in
            try logic.held[0].reply(Pricing.Quote(symbol: "hold", price: -1))  // the timed-out request's
            try logic.held[1].reply(Pricing.Quote(symbol: "hold", price: 2))   // the second's
        }
        #expect(try await second.value == Pricing.Quote(symbol: "hold", price: 2))
        #expect(try await broker.withDaemon { $0.counters(.quotes) }.late == 1)
        try await stop(broker, pricer)
    }

    @Test("a daemon that terminates ends its awaited requests in flight with DaemonFinishedError, and refuses new ones")
    func terminateWithRequestsInFlight() async throws {
        let (pricer, quotes, _, logic) = try await pricer()
        let broker = try await broker(quotes, timeout: 10_000)
        let waiting = (0..<3).map { _ in Task { try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "hold")) } }
        #expect(try await eventually(pricer) { _ in logic.held.count == 3 })
        broker.terminate()
        for task in waiting { await #expect(throws: DaemonFinishedError(daemon: "Broker")) { try await task.value } }
        try await broker.finished()
        await #expect(throws: DaemonFinishedError(daemon: "Broker")) { try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "S2")) }
        pricer.terminate()
        try await pricer.finished()
    }

    /// Answers the requests the Pricer holds with `quote`.
    static func answerHeld(_ logic: PricerLogic, on pricer: DaemonClient<Pricing.Pricer>, with quote: Pricing.Quote) async throws {
        try await pricer.withDaemon { _ in
            for responder in logic.held { try responder.reply(quote) }
            logic.held = []
        }
    }

    @Test("the declared error reaches the caller as that type, through the client and through a completion on the loop")
    func declaredErrorArrivesTyped() async throws {
        let (pricer, quotes, _, _) = try await pricer()
        let broker = try await broker(quotes)
        let expected = RequestFailure<Pricing.NoQuote>.declared(Pricing.NoQuote(reason: "no market for none"))
        await #expect(throws: expected) { try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "none")) }
        let outcome = Box<Result<Pricing.Quote, RequestFailure<Pricing.NoQuote>>?>(nil)
        try await broker.withDaemon { broker in
            try broker.requestQuotes(Pricing.QuoteRequest(symbol: "none")) { result, _ in outcome.update { $0 = result } }
        }
        #expect(try await eventually(broker) { _ in outcome.get != nil })
        #expect(outcome.get == .failure(expected))
        #expect(try await pricer.withDaemon { $0.counters(.quotes) }.failed == 2)
        try await stop(broker, pricer)
    }

    @Test("REQ/REP: a REP handler that throws gives the REQ side a typed failure within its timeout, never a hang")
    func repFailuresReachTheRequester() async throws {
        let (pricer, _, desk, _) = try await pricer()
        var settings = DaemonConfiguration()
        Pricing.Desk.override(.desk, with: ChannelOverride(endpoints: [desk]), in: &settings)
        let configuration = settings
        let log = DeskLog()
        let requester = try await Pricing.Desk.start(name: "desk") { try Pricing.Desk(handlers: log, configuration: configuration) }
        await requester.started()
        for (index, symbol) in ["boom", "none", "ABC"].enumerated() {
            try await requester.withDaemon { try $0.sendDesk(Pricing.QuoteRequest(symbol: symbol)) }
            #expect(try await eventually(requester) { _ in log.all.count == index + 1 })
        }
        #expect(log.all == [
            .failure(.remote(RemoteFailure(reason: "boom"))),
            .failure(.declared(Pricing.NoQuote(reason: "no market for none"))),
            .success(Pricing.Quote(symbol: "ABC", price: 1.5)),
        ])
        #expect(try await requester.withDaemon { $0.counters(.desk) }.failed == 2)
        #expect(try await pricer.withDaemon { $0.counters(.desk) } == ChannelCounters(received: 3, sent: 3, handlerErrors: 1, failed: 2))
        try await stop(requester, pricer)
    }

    @Test("cancelling a task whose request is in flight throws CancellationError; its reply then counts as late")
    func cancellingARequest() async throws {
        let (pricer, quotes, _, logic) = try await pricer()
        let broker = try await broker(quotes, timeout: 10_000)
        let waiting = Task { try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "hold")) }
        #expect(try await eventually(pricer) { _ in logic.held.count == 1 })
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        try await Self.answerHeld(logic, on: pricer, with: Pricing.Quote(symbol: "hold", price: 0))
        #expect(try await eventually(broker) { $0.counters(.quotes).late == 1 })
        try await stop(broker, pricer)
    }
}
