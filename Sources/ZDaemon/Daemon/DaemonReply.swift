// REP: a request's handler returns the reply.
extension Daemon {
    /// Handles requests on a REP channel; the returned frames are the reply. If the handler
    /// throws, an empty one-frame reply is sent so the REP socket can take the next request.
    @usableFromInline package func onRequest(_ channel: Int, _ handler: @escaping ([Frame]) throws -> [Frame]) {
        let channel = self.channel(channel, "onRequest")
        precondition(channel.spec.socket == .rep, "onRequest needs a REP channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .request(handler)
    }

    /// Sends the handler's reply to the request in `frames`.
    func answer(_ frames: [Frame], on channel: Channel, with handler: ([Frame]) throws -> [Frame]) throws {
        let reply = try handler(frames)
        try sendNow(reply, on: channel)
    }

    /// A REP socket must answer before it can receive again: the empty reply.
    func requestHandlerFailed(on channel: Channel) {
        _ = try? channel.socket?.send([[]], dontWait: true)
    }
}
