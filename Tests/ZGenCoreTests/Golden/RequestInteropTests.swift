import Foundation
import Testing
import ZDaemon
import ZDaemonTesting

#if canImport(Glibc)
    import Glibc
#endif

/// pyzmq speaks zgen's request layout (README "Requests and replies") with a generated Pricer
/// (serving) and Broker (calling). Skipped without pyzmq, except under CI (`CI=true`).
@Suite("Requests and replies with pyzmq (real processes)")
struct RequestInteropTests {
    func python(_ script: String, _ arguments: [String] = []) throws -> ChildProcess {
        try ChildProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-u", "-c", script] + arguments)
    }

    func skipWithoutPyzmq() -> Bool {
        guard pyzmqAvailable else {
            #expect(!interopRequired, "CI=true but pyzmq is not installed (python3 -m pip install pyzmq)")
            print("skipped: pyzmq is not installed (python3 -m pip install pyzmq)")
            return true
        }
        return false
    }

    @Test("a pyzmq DEALER calls a generated ROUTER server: reply, declared error and failure, each with its correlation id")
    func pyzmqCallsTheServer() async throws {
        if skipWithoutPyzmq() { return }
        var settings = DaemonConfiguration()
        Pricing.Pricer.override(.quotes, with: ChannelOverride(endpoints: ["tcp://127.0.0.1:*"]), in: &settings)
        Pricing.Pricer.override(.desk, with: ChannelOverride(endpoints: [bindEndpoint(.inproc)]), in: &settings)
        let configuration = settings
        let pricer = try await Pricing.Pricer.start(name: "pricer") { try Pricing.Pricer(handlers: PricerLogic(), configuration: configuration) }
        await pricer.started()
        let endpoint = try #require(pricer.handle.boundEndpoints(Pricing.Pricer.Channel.quotes).first)
        let script = """
            import struct, sys, zmq
            dealer = zmq.Context().socket(zmq.DEALER); dealer.connect(sys.argv[1])
            for corr, symbol in [(b"id-1", b"S5"), (b"id-2", b"none"), (b"id-3", b"S1")]:
                dealer.send_multipart([corr, symbol])
            replies = {}
            for _ in range(3):
                if not dealer.poll(10000): break
                frames = dealer.recv_multipart()
                replies[frames[0]] = frames[1:]
            status, symbol, price = replies[b"id-1"]
            print("reply id-1", status.decode(), symbol.decode(), struct.unpack(">d", price)[0])
            status, reason = replies[b"id-2"]
            print("error", status.decode(), reason.decode())
            status, reason = replies[b"id-3"]
            print("failure", status.decode(), reason.decode())
            """
        let peer = try python(script, [endpoint])
        let status = peer.waitForExit(timeout: 30)
        #expect(status == 0, "\(peer.lines)")
        #expect(peer.lines == ["reply id-1 ok S5 5.0", "error error no market for none", "failure failure boom"])
        pricer.terminate()
        try await pricer.finished()
    }

    @Test("a generated DEALER caller gets pyzmq ROUTER's reply, declared error and failure as typed outcomes")
    func theCallerUsesAPyzmqServer() async throws {
        if skipWithoutPyzmq() { return }
        let script = """
            import struct, zmq
            router = zmq.Context().socket(zmq.ROUTER)
            port = router.bind_to_random_port("tcp://127.0.0.1")
            print("port", port, flush=True)
            for _ in range(3):
                if not router.poll(60000): break
                peer, corr, symbol = router.recv_multipart()
                if symbol == b"A":
                    router.send_multipart([peer, corr, b"ok", b"A", struct.pack(">d", 42.0)])
                elif symbol == b"B":
                    router.send_multipart([peer, corr, b"error", b"no B"])
                else:
                    router.send_multipart([peer, corr, b"failure", b"py says no"])
            """
        let peer = try python(script)
        #expect(peer.waitForLine(containing: "port"), "\(peer.lines)")
        let port = try #require(peer.lines.first { $0.hasPrefix("port ") }.map { $0.dropFirst(5) })
        var settings = DaemonConfiguration()
        Pricing.Broker.override(.quotes, with: ChannelOverride(endpoints: ["tcp://127.0.0.1:\(port)"], timeout: 30_000), in: &settings)
        let configuration = settings
        let broker = try await Pricing.Broker.start(name: "broker") { try Pricing.Broker(configuration: configuration) }
        await broker.started()
        #expect(try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "A")) == Pricing.Quote(symbol: "A", price: 42))
        await #expect(throws: RequestFailure<Pricing.NoQuote>.declared(Pricing.NoQuote(reason: "no B"))) {
            try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "B"))
        }
        await #expect(throws: RequestFailure<Pricing.NoQuote>.remote(RemoteFailure(reason: "py says no"))) {
            try await broker.requestQuotes(Pricing.QuoteRequest(symbol: "C"))
        }
        #expect(peer.waitForExit(timeout: 30) == 0, "\(peer.lines)")
        broker.terminate()
        try await broker.finished()
    }
}
