// Sending: straight to the socket when it can take the message, else into the channel's bounded
// queue (flushed when the socket is writable); a backed-up queue pauses the inputs it drains.
extension Daemon {
    /// Sends a multipart message on a channel (not ROUTER: use ``send(_:on:to:)``; not REP:
    /// the ``onRequest(_:_:)`` handler returns the reply). Never blocks the loop: when the
    /// socket cannot take it now, the message waits in the channel's queue (bounded by the
    /// spec's `queue`, else ``ChannelFullError``) and goes out when the socket is writable.
    /// On REQ, a second request before the reply (or timeout) throws.
    @usableFromInline package func send(_ frames: [Frame], on channel: Int) throws {
        let channel = self.channel(channel, "send")
        switch channel.spec.socket {
        case .router:
            throw ZDaemonError("channel \(channel.spec.name) is a ROUTER socket: send with send(_:on:to:)")
        case .rep:
            throw ZDaemonError("channel \(channel.spec.name) is a REP socket: its onRequest handler returns the reply")
        case .pull, .sub:
            throw ZDaemonError("channel \(channel.spec.name) is a \(channel.spec.socket.rawValue) socket: it cannot send")
        case .req:
            try sendRequest(frames, on: channel)
        default:
            try enqueueOrSend(frames, on: channel)
        }
    }

    /// The typed send: straight from the message's values (`write`) when the channel's socket
    /// sends plain messages, nothing is queued and the socket takes the first frame now; else
    /// the `encoded` frames go the way of ``send(_:on:)-(_,Int)``.
    @usableFromInline package func send(
        on channel: Int, _ write: (inout FrameSender) throws -> Void, encoded: () throws -> [Frame]
    ) throws {
        // unowned(unsafe): the daemon owns its channels and their sockets for this whole call; no
        // reference counting per message.
        unowned(unsafe) let channel = self.channel(channel, "send")
        switch channel.spec.socket {
        case .push, .pub, .dealer, .pair, .xpub, .xsub:
            if channel.pendingCount == 0, let open = channel.socket, let handle = open.handle {
                unowned(unsafe) let socket = open
                var out = FrameSender(handle: handle, socket: socket)
                do {
                    try write(&out)
                } catch {
                    // e.g. a JSON frame that does not encode (before anything was sent)
                    channel.counters.refused += 1
                    throw error
                }
                if !out.started && !out.refused {
                    channel.counters.refused += 1
                    throw ZDaemonError("send on \(channel.spec.name): a message needs at least one frame")
                }
                if !out.refused {
                    socket.hasSent = true
                    channel.counters.sent += 1
                    return
                }
            }
        default:
            break
        }
        try send(encoded(), on: channel.index)
    }

    /// Sends at once (a REP reply: the socket can always take it).
    func sendNow(_ frames: [Frame], on channel: Channel) throws {
        guard let socket = channel.socket else { throw ZDaemonError("channel \(channel.spec.name) is closed") }
        try socket.send(frames)
        channel.counters.sent += 1
    }

    /// Sends now if nothing is queued and the socket takes it, else queues (bounded).
    func enqueueOrSend(_ frames: [Frame], on channel: Channel) throws {
        guard let socket = channel.socket else { throw ZDaemonError("channel \(channel.spec.name) is not open") }
        if channel.pendingCount == 0 {
            let sent: Bool
            do {
                sent = try socket.send(frames, dontWait: true)
            } catch {
                // e.g. EHOSTUNREACH: a ROUTER with routerMandatory and no such peer.
                channel.counters.refused += 1
                throw error
            }
            if sent {
                channel.counters.sent += 1
                return
            }
        }
        guard channel.pendingCount < channel.spec.queue else {
            channel.counters.refused += 1
            throw ChannelFullError(channel: channel.spec.name, queued: channel.pendingCount)
        }
        channel.enqueue(frames)
        if !channel.gatedInputs.isEmpty && channel.pendingCount >= channel.pauseThreshold {
            for input in channel.gatedInputs where !input.paused { setPaused(input, true, by: channel) }
        }
        if let registration = channel.registration {
            loop.update(registration, events: registration.events.union(.writable))
        }
    }

    /// Sends what the queue holds while the socket takes it; resumes the gated inputs below
    /// the resume threshold.
    func flush(_ channel: Channel) {
        guard let socket = channel.socket else { return }
        while channel.pendingCount > 0 {
            do {
                guard try socket.send(channel.firstPending, dontWait: true) else { break }
                channel.counters.sent += 1
            } catch {
                logger.error("\(spec.name): send on \(channel.spec.name) failed: \(error)")
                channel.counters.dropped += 1
            }
            channel.dequeue()
        }
        if !channel.gatedInputs.isEmpty && channel.belowResumeThreshold() {
            for input in channel.gatedInputs where input.paused { setPaused(input, false, by: channel) }
        }
        if channel.pendingCount == 0, let registration = channel.registration {
            loop.update(registration, events: registration.events.subtracting(.writable))
        }
        // Room for as many waiting client sends as the queue (at least one: a channel without a
        // queue has room when its socket is writable) takes; the others wait on, in order.
        let room = max(channel.spec.queue, 1) - channel.pendingCount
        if !channel.spaceWaiters.isEmpty && room > 0 { wakeSpaceWaiters(of: channel, upTo: room) }
    }

    /// Runs (at most `limit` of) the client sends that wait for room on `channel`, oldest first:
    /// each tries again, and waits again if the queue is full once more.
    func wakeSpaceWaiters(of channel: Channel, upTo limit: Int = .max) {
        let count = min(limit, channel.spaceWaiters.count)
        let waiters = channel.spaceWaiters.prefix(count)
        channel.spaceWaiters.removeFirst(count)
        for waiter in waiters { waiter(self) }
    }

    /// Runs `waiter` on the loop when the channel called `name` has room in its send queue (for
    /// a channel without a queue: when its socket is writable), or when the daemon terminates;
    /// `false` when there is no such channel.
    package func whenSpace(onChannelNamed name: String, _ waiter: @escaping (Daemon?) -> Void) -> Bool {
        guard let channel = channels.first(where: { $0.spec.name == name }) else { return false }
        channel.spaceWaiters.append(waiter)
        if let registration = channel.registration {
            loop.update(registration, events: registration.events.union(.writable))
        }
        return true
    }

    /// Stops (or restarts) reading `input` while `output`'s send queue is backed up.
    private func setPaused(_ input: Channel, _ paused: Bool, by output: Channel) {
        input.paused = paused
        logger.info("\(paused ? "Pausing" : "Resuming") receive on: \(input.spec.name) (Buffered: \(output.pendingCount), HWM: \(output.spec.queue))")
        updateReading(input)
    }

    /// Polls a channel's socket for reading exactly while neither pause (flow control, a full
    /// stream buffer) applies.
    func updateReading(_ channel: Channel) {
        guard let registration = channel.registration else { return }
        let events = channel.isReading ? registration.events.union(.readable) : registration.events.subtracting(.readable)
        if events != registration.events { loop.update(registration, events: events) }
    }
}
