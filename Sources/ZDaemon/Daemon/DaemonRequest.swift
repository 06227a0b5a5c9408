// REQ: one request in flight, its reply or its timeout (Lazy Pirate: the socket is reopened).
extension Daemon {
    /// Handles the reply (or the ``RequestTimeout``) to the last request sent on a REQ channel.
    @usableFromInline package func onReply(_ channel: Int, _ handler: @escaping (Result<[Frame], RequestTimeout>) throws -> Void) {
        let channel = self.channel(channel, "onReply")
        precondition(channel.spec.socket == .req, "onReply needs a REQ channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .reply(handler)
    }

    /// Sends a request: refused while the previous one is unanswered; starts the reply timer.
    func sendRequest(_ frames: [Frame], on channel: Channel) throws {
        guard !channel.awaitingReply else {
            throw ZDaemonError("REQ channel \(channel.spec.name): cannot send a new request before the reply to the previous one (or its timeout)")
        }
        try enqueueOrSend(frames, on: channel)
        channel.awaitingReply = true
        if let timeout = channel.spec.timeout {
            channel.replyTimer = loop.scheduleTask(in: .milliseconds(timeout), name: "\(channel.spec.name) reply timeout") {
                [unowned self, unowned channel] in self.replyTimedOut(channel, milliseconds: timeout)
            }
        }
    }

    /// Hands the reply in `frames` to the handler, unless no request is out.
    func takeReply(_ frames: [Frame], on channel: Channel,
                   handler: (Result<[Frame], RequestTimeout>) throws -> Void) throws {
        guard channel.awaitingReply else {
            drop(channel, "unexpected reply")
            return
        }
        channel.awaitingReply = false
        channel.replyTimer?.cancel()
        channel.replyTimer = nil
        try handler(.success(frames))
    }

    /// No reply in time: the socket is reopened (a REQ cannot send again otherwise) and the
    /// handler gets the timeout.
    private func replyTimedOut(_ channel: Channel, milliseconds: Int) {
        guard channel.awaitingReply else { return }
        channel.awaitingReply = false
        channel.replyTimer = nil
        logger.warning("\(spec.name): no reply on \(channel.spec.name) within \(milliseconds) ms, reopening the socket")
        channel.clearPending()
        closeSocket(of: channel, linger: 0)
        do {
            try openSocket(of: channel)
        } catch {
            logger.error("\(spec.name): reopening \(channel.spec.name) failed: \(error)")
        }
        if case .reply(let handler) = channel.handler {
            do {
                try handler(.failure(RequestTimeout(channel: channel.spec.name, milliseconds: milliseconds)))
            } catch {
                handlerFailed(channel, error)
            }
        }
    }
}
