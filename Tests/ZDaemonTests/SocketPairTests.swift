import Testing
@testable import ZDaemon
import ZDaemonTesting

/// Every compatible socket pair exchanges a multipart message with an empty frame and a
/// 1 MiB frame, byte for byte, over tcp, ipc and inproc.
@Suite("Socket pairs")
struct SocketPairTests {
    enum Pair: String, CaseIterable, Sendable, CustomStringConvertible {
        case pushPull, pubSub, xpubSub, pubXsub, xpubXsub, reqRep, reqRouter, dealerRep, dealerRouter,
            dealerDealer, routerRouter, pairPair
        var description: String { rawValue }
    }

    static let big: Frame = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let request: [Frame] = [Array("hello".utf8), [], big, Array("end".utf8)]
    static let reply: [Frame] = [[], Array("reply".utf8), big]

    /// `b` binds, `a` connects.
    func connected(_ a: SocketType, _ b: SocketType, _ transport: TestTransport,
                   configure: (Socket, Socket) throws -> Void = { _, _ in }) throws -> (Socket, Socket) {
        let first = try Socket(a)
        let second = try Socket(b)
        try configure(first, second)
        let endpoint = try second.bind(bindEndpoint(transport))
        try first.connect(endpoint)
        return (first, second)
    }

    /// Publishes until the subscriber got a message (subscriptions travel asynchronously).
    func publish(_ publisher: Socket, to subscriber: Socket) throws {
        var received: [Frame]?
        let arrived = try eventually {
            try publisher.send(Self.request)
            received = try subscriber.receive(timeout: .milliseconds(20))
            return received != nil
        }
        #expect(arrived)
        #expect(received == Self.request)
    }

    @Test(arguments: Pair.allCases, TestTransport.allCases)
    func exchange(_ pair: Pair, _ transport: TestTransport) throws {
        let timeout = Duration.seconds(10)
        switch pair {
        case .pushPull:
            let (a, b) = try connected(.push, .pull, transport)
            try a.send(Self.request)
            #expect(try b.receive(timeout: timeout) == Self.request)
        case .pubSub, .xpubSub:
            let (a, b) = try connected(pair == .pubSub ? .pub : .xpub, .sub, transport) { _, sub in
                try sub.setOption(.subscribe([]))
            }
            try publish(a, to: b)
        case .pubXsub, .xpubXsub:
            let (a, b) = try connected(pair == .pubXsub ? .pub : .xpub, .xsub, transport)
            try b.send([[1]])  // XSUB subscribes by sending a message: 0x01 + prefix
            try publish(a, to: b)
        case .reqRep:
            let (a, b) = try connected(.req, .rep, transport)
            try a.send(Self.request)
            #expect(try b.receive(timeout: timeout) == Self.request)
            try b.send(Self.reply)
            #expect(try a.receive(timeout: timeout) == Self.reply)
        case .reqRouter:
            let (a, b) = try connected(.req, .router, transport)
            try a.send(Self.request)
            let got = try #require(try b.receive(timeout: timeout))
            #expect(got.count == Self.request.count + 2)
            #expect(got[1] == [])
            #expect(Array(got[2...]) == Self.request)
            try b.send([got[0], []] + Self.reply)
            #expect(try a.receive(timeout: timeout) == Self.reply)
        case .dealerRep:
            let (a, b) = try connected(.dealer, .rep, transport)
            try a.send([[]] + Self.request)
            #expect(try b.receive(timeout: timeout) == Self.request)
            try b.send(Self.reply)
            #expect(try a.receive(timeout: timeout) == [[]] + Self.reply)
        case .dealerRouter:
            let (a, b) = try connected(.dealer, .router, transport)
            try a.send(Self.request)
            let got = try #require(try b.receive(timeout: timeout))
            #expect(Array(got[1...]) == Self.request)
            try b.send([got[0]] + Self.reply)
            #expect(try a.receive(timeout: timeout) == Self.reply)
        case .dealerDealer, .pairPair:
            let type: SocketType = pair == .pairPair ? .pair : .dealer
            let (a, b) = try connected(type, type, transport)
            try a.send(Self.request)
            #expect(try b.receive(timeout: timeout) == Self.request)
            try b.send(Self.reply)
            #expect(try a.receive(timeout: timeout) == Self.reply)
        case .routerRouter:
            let client = Array("client".utf8), server = Array("server".utf8)
            let (a, b) = try connected(.router, .router, transport) { a, b in
                try a.setOption(.routingID(client))
                try a.setOption(.routerMandatory(true))
                try b.setOption(.routingID(server))
            }
            // Unroutable until the handshake is done: mandatory makes that visible.
            let sent = eventually {
                (try? a.send([server] + Self.request, dontWait: true)) == true
            }
            #expect(sent)
            #expect(try b.receive(timeout: timeout) == [client] + Self.request)
            try b.send([client] + Self.reply)
            #expect(try a.receive(timeout: timeout) == [server] + Self.reply)
        }
    }

    @Test func lastEndpointResolvesTheWildcardPort() throws {
        let socket = try Socket(.pull)
        let endpoint = try socket.bind("tcp://127.0.0.1:*")
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(!endpoint.hasSuffix(":*"))
        #expect(try socket.lastEndpoint() == endpoint)
    }

    @Test func severalEndpointsPerSocket() throws {
        let pull = try Socket(.pull)
        let endpoints = try TestTransport.allCases.map { try pull.bind(bindEndpoint($0)) }
        for (index, endpoint) in endpoints.enumerated() {
            let push = try Socket(.push)
            try push.connect(endpoint)
            try push.send([[UInt8(index)]])
            #expect(try pull.receive(timeout: .seconds(10)) == [[UInt8(index)]])
        }
    }

    @Test func optionThatDoesNotApplyNamesOptionAndType() throws {
        let push = try Socket(.push)
        #expect(throws: ZDaemonError("SUBSCRIBE does not apply to a PUSH socket")) {
            try push.setOption(.subscribe([]))
        }
        #expect(throws: ZDaemonError("ROUTER_MANDATORY does not apply to a DEALER socket")) {
            try Socket(.dealer).setOption(.routerMandatory(true))
        }
        // Every option the runtime knows is accepted where it applies.
        let router = try Socket(.router)
        for option: SocketOption in [.sendHWM(10), .receiveHWM(10), .linger(0), .routingID([1]), .reconnectIvl(50),
                                     .reconnectIvlMax(500), .heartbeatIvl(100), .heartbeatTtl(300),
                                     .heartbeatTimeout(300), .immediate(true), .routerMandatory(true),
                                     .tcpKeepalive(true)] {
            try router.setOption(option)
        }
        let sub = try Socket(.sub)
        try sub.setOption(.subscribe(Array("a".utf8)))
        try sub.setOption(.unsubscribe(Array("a".utf8)))
    }

    @Test func bindingAnOccupiedPortFailsClearly() throws {
        let holder = try Socket(.pull)
        let endpoint = try holder.bind("tcp://127.0.0.1:*")
        let other = try Socket(.pull)
        do {
            try other.bind(endpoint)
            Issue.record("bind succeeded")
        } catch let error as ZMQError {
            #expect(error.description == "bind \(endpoint): Address already in use")
        }
    }

    @Test func nonBlockingReceiveAndSendReportWouldBlock() throws {
        let pull = try Socket(.pull)
        #expect(try pull.receive(dontWait: true) == nil)
        let push = try Socket(.push)
        try push.bind(bindEndpoint(.inproc))  // no peer: cannot send
        #expect(try push.send([[1]], dontWait: true) == false)
    }

    @Test func closeIsIdempotentAndLaterUseFails() throws {
        let socket = try Socket(.pair)
        socket.close(linger: 0)
        socket.close(linger: 0)
        #expect(socket.isClosed)
        #expect(throws: ZMQError.self) { try socket.bind(bindEndpoint(.inproc)) }
    }
}
