// Receiving: draining a readable socket and dispatching each message to its channel's handler.
extension Daemon {
    /// A channel that may get a plain receive handler (not REP or REQ: they have their own).
    func receivingChannel(_ index: Int, _ use: String) -> Channel {
        let channel = self.channel(index, use)
        let socket = channel.spec.socket
        precondition(socket.canReceive, "\(use): channel \(channel.spec.name) is a \(socket.rawValue) socket, it receives nothing")
        precondition(socket != .rep && socket != .req,
                     "\(use): channel \(channel.spec.name) is \(socket.rawValue); use \(socket == .rep ? "onRequest" : "onReply")")
        return channel
    }

    /// The loop's callback for a channel's socket.
    func service(_ channel: Channel, _ events: PollEvents) {
        if events.contains(.writable) { flush(channel) }
        if events.contains(.readable) { _ = drain(channel, limit: receiveBatch) }
    }

    /// Receives and dispatches up to `limit` waiting messages without blocking; returns how
    /// many it took.
    func drain(_ channel: Channel, limit: Int) -> Int {
        // A REQ socket has nothing to receive unless a request is out (receiving would fail).
        if channel.spec.socket == .req && !channel.awaitingReply { return 0 }
        guard let socket = channel.socket else { return 0 }
        // The two plain handlers get tight loops: no per-message dispatch on the handler kind.
        switch channel.handler {
        case .receiveBorrowed(let handler):
            // Frames stay in libzmq's buffers and the handler decodes them in place.
            return receiveLoop(channel, socket, limit: limit, receive: { try $0.receiveBorrowed(dontWait: true) }) { frames in
                channel.counters.received &+= 1
                do { try handler(frames, self) } catch { handlerFailed(channel, error) }
                return true
            }
        case .receive(let handler):
            return receiveLoop(channel, socket, limit: limit, receive: { try $0.receive(into: &channel.frames, dontWait: true) ? () : nil }) { _ in
                channel.counters.received += 1
                do { try handler(channel.frames) } catch { handlerFailed(channel, error) }
                return true
            }
        default:
            return receiveLoop(channel, socket, limit: limit, receive: { try $0.receive(into: &channel.frames, dontWait: true) ? () : nil }) { _ in
                deliver(channel)
                // A REQ socket holds at most one reply; receiving again would fail (EFSM).
                return channel.spec.socket != .req
            }
        }
    }

    /// The one receive loop: takes messages while the socket has them, the channel is not
    /// paused by flow control or a full stream buffer (unless terminating) and its socket has not been replaced by a handler; a receive
    /// error ends the batch (a terminated context ends the loop). `handle` returns whether to
    /// go on.
    @inline(__always)
    private func receiveLoop<Message>(
        _ channel: Channel, _ socket: Socket, limit: Int, receive: (Socket) throws -> Message?,
        handle: (Message) -> Bool
    ) -> Int {
        var count = 0
        while count < limit, channel.isReading || terminating, channel.socket === socket {
            // A terminate asked for (here or from another thread) ends the batch after the
            // current message, so slow handlers cannot hold it up; the shutdown's own draining
            // goes on under its deadline.
            if count > 0, !shuttingDown, terminating || loop.remote.stopAsked.load(ordering: .relaxed) { break }
            let message: Message
            do {
                guard let next = try receive(socket) else { break }
                message = next
            } catch let error as OversizedMessageError {
                // Read to its end and discarded by the socket: the next message is intact.
                count += 1
                if dropOversized(channel, error) { continue } else { break }
            } catch {
                receiveFailed(error)
                break
            }
            count += 1
            if !handle(message) { break }
        }
        return count
    }

    /// Counts and logs a message over the channel's bounds, which the socket discarded. A REP
    /// answers it with a failure (it must answer before it can receive again); a REQ's request
    /// ends with a failure (the handler gets `.remote`). A ROUTER or DEALER request channel
    /// cannot tell which request it was: that call times out. Returns whether to go on receiving.
    private func dropOversized(_ channel: Channel, _ error: OversizedMessageError) -> Bool {
        channel.counters.dropped += 1
        repeatedLog.log(.oversized, channel: channel.spec.name, level: .warning, to: logger, detail: error.description) {
            "\(spec.name): dropped oversized message on \(channel.spec.name): \($0)"
        }
        switch (channel.spec.socket, channel.handler) {
        case (.rep, _):
            channel.counters.failed += 1
            try? sendNow(RequestWire.failureReply("request over the limit: \(error)"), on: channel)
            return true
        case (.req, .reply(let handler)):
            do {
                try takeReply(RequestWire.failureReply("reply over the limit: \(error)"), on: channel, handler: handler)
            } catch {
                handlerFailed(channel, error)
            }
            return false  // a REQ holds at most one reply
        default:
            return true
        }
    }

    private func receiveFailed(_ error: any Error) {
        if let error = error as? ZMQError, error.isContextTerminated {
            loop.stop()
        } else {
            logger.error("\(spec.name): \(error)")
        }
    }

    /// Hands the message in the channel's buffer to its handler, by the handler's kind.
    private func deliver(_ channel: Channel) {
        channel.counters.received += 1
        let frames = channel.frames
        do {
            switch channel.handler {
            case .receive(let handler):
                try handler(frames)
            case .receiveBorrowed:
                preconditionFailure("borrowed receive handlers are served by drain's borrowed loop")
            case .request(let handler):
                try answer(frames, on: channel, with: handler)
            case .routed(let handler):
                try route(frames, on: channel, to: handler)
            case .reply(let handler):
                try takeReply(frames, on: channel, handler: handler)
            case .serve(let handler):
                try serveCall(frames, on: channel, handler: handler)
            case .calls:
                completeCall(frames, on: channel)
            case .none:
                // An XPUB without a handler just lets libzmq act on subscriptions.
                if channel.spec.socket != .xpub { drop(channel, "no handler") }
            }
        } catch {
            handlerFailed(channel, error)
        }
    }

    /// Counts and logs a message that no handler takes (repeats summarised: ``RepeatedLog``).
    func drop(_ channel: Channel, _ why: String) {
        channel.counters.dropped += 1
        repeatedLog.log(.unhandled, channel: channel.spec.name, level: .warning, to: logger, detail: why) {
            "\(spec.name): dropped message on \(channel.spec.name): \($0)"
        }
    }

    /// A malformed message (``FrameDecodingError``) is dropped; any other error counts as the
    /// handler's. Either is counted and logged (repeats summarised: ``RepeatedLog``), and the
    /// loop goes on.
    func handlerFailed(_ channel: Channel, _ error: any Error) {
        if let error = error as? FrameDecodingError {
            channel.counters.dropped += 1
            repeatedLog.log(.malformed, channel: channel.spec.name, level: .warning, to: logger, detail: "\(error)") {
                "\(spec.name): dropped malformed message on \(channel.spec.name): \($0)"
            }
        } else {
            channel.counters.handlerErrors += 1
            repeatedLog.log(.handlerError, channel: channel.spec.name, level: .error, to: logger, detail: "\(error)") {
                "\(spec.name): handler for \(channel.spec.name) failed: \($0)"
            }
        }
    }
}
