// REQ: one request in flight, its outcome or its timeout (Lazy Pirate: the socket is reopened).
extension Daemon {
    /// Handles the outcome of the last request sent on a REQ channel: the reply's body, or why
    /// there is none (the declared error's body, a failure, or the timeout).
    @usableFromInline package func onReply(_ channel: Int, _ handler: @escaping (Result<[Frame], RequestFailure<[Frame]>>) throws -> Void) {
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
        let timeout = channel.spec.timeout ?? ChannelLimits.defaultTimeout
        channel.replyTimer = loop.scheduleTask(in: .milliseconds(timeout), name: "\(channel.spec.name) reply timeout") {
            [unowned self, unowned channel] in self.replyTimedOut(channel, milliseconds: timeout)
        }
    }

    /// Hands the outcome in the reply `frames` to the handler, unless no request is out.
    func takeReply(_ frames: [Frame], on channel: Channel,
                   handler: (Result<[Frame], RequestFailure<[Frame]>>) throws -> Void) throws {
        guard channel.awaitingReply else {
            drop(channel, "unexpected reply")
            return
        }
        channel.awaitingReply = false
        channel.replyTimer?.cancel()
        channel.replyTimer = nil
        let outcome = RequestWire.outcome(of: frames)
        if case .failure(let failure) = outcome { requestFailed(on: channel, failure) }
        try handler(outcome)
    }

    /// Counts and logs a request that did not end with its reply.
    func requestFailed(on channel: Channel, _ failure: RequestFailure<[Frame]>) {
        channel.counters.failed += 1
        switch failure {
        case .declared: break  // an answer the schema declares: counted, not logged
        case .remote(let remote):
            repeatedLog.log(.failedRequest, channel: channel.spec.name, level: .warning, to: logger, detail: remote.reason) {
                "\(spec.name): request on \(channel.spec.name) failed: \($0)"
            }
        case .timeout(let timeout):
            repeatedLog.log(.failedRequest, channel: channel.spec.name, level: .warning, to: logger, detail: "\(timeout)") {
                "\(spec.name): \($0)"
            }
        }
    }

    /// No reply in time: the socket is reopened (a REQ cannot send again otherwise) and the
    /// handler gets the timeout.
    private func replyTimedOut(_ channel: Channel, milliseconds: Int) {
        guard channel.awaitingReply else { return }
        channel.awaitingReply = false
        channel.replyTimer = nil
        let timeout = RequestTimeout(channel: channel.spec.name, milliseconds: milliseconds)
        requestFailed(on: channel, .timeout(timeout))
        logger.info("\(spec.name): reopening the socket of \(channel.spec.name)")
        channel.clearPending()
        closeSocket(of: channel, linger: 0)
        do {
            try openSocket(of: channel)
        } catch {
            logger.error("\(spec.name): reopening \(channel.spec.name) failed: \(error)")
        }
        if case .reply(let handler) = channel.handler {
            do {
                try handler(.failure(.timeout(timeout)))
            } catch {
                handlerFailed(channel, error)
            }
        }
    }
}
