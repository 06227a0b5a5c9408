// REP: a request's handler answers; zgen's layout puts a status frame before the body.
extension Daemon {
    /// Handles requests on a REP channel; the returned frames are the reply (sent after the `ok`
    /// status frame). If the handler throws, the requester gets a failure reply naming the error
    /// (`failure`, reason), and the REP socket can take the next request.
    @usableFromInline package func onRequest(_ channel: Int, _ handler: @escaping ([Frame]) throws -> [Frame]) {
        onRequestAnswering(channel) { .reply(try handler($0)) }
    }

    /// Like ``onRequest(_:_:)``, with the answer's kind chosen by the handler (the reply, or the
    /// channel's declared error).
    @usableFromInline package func onRequestAnswering(_ channel: Int, _ handler: @escaping ([Frame]) throws -> RequestAnswer) {
        let channel = self.channel(channel, "onRequest")
        precondition(channel.spec.socket == .rep, "onRequest needs a REP channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .request(handler)
    }

    /// Answers the request in `frames`: the handler's reply or declared error, or a failure when
    /// it throws (then rethrown, to be logged and counted). A REP socket must answer before it
    /// can receive again, so there is always an answer.
    func answer(_ frames: [Frame], on channel: Channel, with handler: ([Frame]) throws -> RequestAnswer) throws {
        let answer: RequestAnswer
        do {
            answer = try handler(frames)
        } catch {
            channel.counters.failed += 1
            try? sendNow(RequestWire.failureReply(Self.reason(for: error)), on: channel)
            throw error
        }
        switch answer {
        case .reply(let body): try sendNow([RequestWire.ok] + body, on: channel)
        case .error(let body):
            channel.counters.failed += 1
            try sendNow([RequestWire.error] + body, on: channel)
        }
    }

    /// The reason a failure reply gives for a handler's error.
    @usableFromInline static func reason(for error: any Error) -> String {
        if let error = error as? FrameDecodingError { return "malformed request: \(error)" }
        return "\(error)"
    }
}
