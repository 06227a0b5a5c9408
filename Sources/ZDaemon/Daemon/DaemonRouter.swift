// ROUTER: envelopes stripped on the way in, and rebuilt in the peer's shape on the way out.
extension Daemon {
    /// Handles messages on a ROUTER channel with the envelope stripped. Both peer shapes are
    /// understood: DEALER (id, body…) and REQ (id, empty delimiter, body…); replies through
    /// ``send(_:on:to:)`` use the shape the peer last used.
    @usableFromInline package func onRouted(_ channel: Int, _ handler: @escaping (RoutingID, [Frame]) throws -> Void) {
        let channel = self.channel(channel, "onRouted")
        precondition(channel.spec.socket == .router, "onRouted needs a ROUTER channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .routed(handler)
    }

    /// Sends `frames` to one ROUTER peer, wrapped in the envelope shape the peer used.
    @usableFromInline package func send(_ frames: [Frame], on channel: Int, to peer: RoutingID) throws {
        let channel = self.channel(channel, "send(to:)")
        guard channel.spec.socket == .router else {
            throw ZDaemonError("channel \(channel.spec.name) is a \(channel.spec.socket.rawValue) socket: send(_:on:to:) needs a ROUTER")
        }
        var message: [Frame] = [peer.bytes]
        message.reserveCapacity(frames.count + 2)
        if channel.delimitedPeers.contains(peer.bytes) { message.append([]) }
        message.append(contentsOf: frames)
        try enqueueOrSend(message, on: channel)
    }

    /// Strips the envelope of a received message, remembers the peer's shape and hands the
    /// body to the handler.
    func route(_ frames: [Frame], on channel: Channel, to handler: (RoutingID, [Frame]) throws -> Void) throws {
        guard frames.count >= 2 else {
            drop(channel, "message without a body from \(frames.first.map { RoutingID($0) }?.description ?? "?")")
            return
        }
        let id = frames[0]
        let body: [Frame]
        if frames[1].isEmpty {
            channel.delimitedPeers.insert(id)
            body = Array(frames[2...])
        } else {
            if !channel.delimitedPeers.isEmpty { channel.delimitedPeers.remove(id) }
            body = Array(frames[1...])
        }
        try handler(RoutingID(id), body)
    }
}
