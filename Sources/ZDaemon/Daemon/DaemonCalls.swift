// Request channels: any number of requests in flight from a DEALER caller to a ROUTER server,
// matched by a correlation-id frame, each with its own timeout.

/// A request in flight on a DEALER caller: what to do with its outcome, and its timer.
final class PendingCall {
    /// Gets the outcome, or `nil` when the daemon shut down first.
    let completion: (Result<[Frame], RequestFailure<[Frame]>>?) -> Void
    var timer: Scheduled?

    init(_ completion: @escaping (Result<[Frame], RequestFailure<[Frame]>>?) -> Void) { self.completion = completion }
}

extension Daemon {
    /// Sends `frames` as a request on a DEALER request channel and calls `completion` on the loop
    /// with its outcome: the reply's body, the declared error's body, a failure, or the timeout
    /// (`timeout`, else the channel's, else ``ChannelLimits/defaultTimeout``); `nil` when the daemon
    /// shuts down first. A reply after the timeout is dropped and counted as `late`. Returns the
    /// request's id (for ``cancelCall(_:on:)``). Throws, and `completion` is never called, when the
    /// request cannot be sent (``ChannelFullError``, a closed channel).
    @discardableResult
    @usableFromInline package func call(_ frames: [Frame], on index: Int, timeout: Duration?,
                      _ completion: @escaping (Result<[Frame], RequestFailure<[Frame]>>?) -> Void) throws -> UInt64 {
        let channel = self.channel(index, "request")
        guard channel.spec.socket == .dealer else {
            throw ZDaemonError("channel \(channel.spec.name) is a \(channel.spec.socket.rawValue) socket: requests in flight need a DEALER")
        }
        // A request made while the daemon terminates could never get its reply: refused, unsent.
        guard !terminating, !isClosed else { throw DaemonFinishedError(daemon: spec.name) }
        switch channel.handler {
        case .none: channel.handler = .calls
        case .calls: break
        default: throw ZDaemonError("channel \(channel.spec.name) has a receive handler: it cannot also take replies to requests")
        }
        if channel.lastCall == 0 {
            // Ids start at random, so that a reply from before a restart (same routing id) does
            // not match a new request.
            channel.lastCall = UInt64.random(in: 1...(UInt64.max / 2))
        }
        let id = channel.lastCall &+ 1
        try enqueueOrSend([RequestWire.correlation(id)] + frames, on: channel)
        channel.lastCall = id
        let asked = timeout.map { Int(clamping: $0.milliseconds) } ?? channel.spec.timeout ?? ChannelLimits.defaultTimeout
        let milliseconds = min(max(asked, ChannelLimits.timeout.lowerBound), ChannelLimits.timeout.upperBound)
        let pending = PendingCall(completion)
        pending.timer = loop.scheduleTask(in: .milliseconds(milliseconds), name: "\(channel.spec.name) request timeout") {
            [unowned self, unowned channel] in self.callTimedOut(id, on: channel, milliseconds: milliseconds)
        }
        channel.calls[id] = pending
        return id
    }

    /// Forgets a request in flight (its caller stopped waiting): no outcome is delivered, and a
    /// reply that still comes counts as `late`.
    package func cancelCall(_ id: UInt64, on index: Int) {
        guard let pending = channels[index].calls.removeValue(forKey: id) else { return }
        pending.timer?.cancel()
    }

    private func callTimedOut(_ id: UInt64, on channel: Channel, milliseconds: Int) {
        guard let pending = channel.calls.removeValue(forKey: id) else { return }
        let timeout = RequestTimeout(channel: channel.spec.name, milliseconds: milliseconds)
        requestFailed(on: channel, .timeout(timeout))
        pending.completion(.failure(.timeout(timeout)))
    }

    /// A reply on a DEALER caller: to its request, if that is still in flight.
    func completeCall(_ frames: [Frame], on channel: Channel) {
        guard let first = frames.first, let id = RequestWire.correlationID(first) else {
            drop(channel, "reply without a correlation id")
            return
        }
        guard let pending = channel.calls.removeValue(forKey: id) else {
            channel.counters.late += 1  // counted, not logged per message: a late reply is no error here
            return
        }
        pending.timer?.cancel()
        let outcome = RequestWire.outcome(of: Array(frames.dropFirst()))
        if case .failure(let failure) = outcome { requestFailed(on: channel, failure) }
        pending.completion(outcome)
    }

    /// At shutdown: the requests still in flight get `nil` (new ones are refused by then).
    func abandonCalls(of channel: Channel) {
        while !channel.calls.isEmpty {
            let calls = channel.calls
            channel.calls = [:]
            for (_, pending) in calls.sorted(by: { $0.key < $1.key }) {
                pending.timer?.cancel()
                pending.completion(nil)
            }
        }
    }

    /// A reply that arrived but did not decode as the channel's reply or error type: counted
    /// and logged like any other failure (the caller gets a ``RemoteFailure``).
    @usableFromInline package func malformedReply(on index: Int, _ failure: RemoteFailure) {
        requestFailed(on: channels[index], .remote(failure))
    }

    /// Serves the requests on a ROUTER request channel: `handler` gets the caller, the request's
    /// correlation frame and its body, and answers through ``answerCall(_:on:to:failed:)``.
    @usableFromInline package func onCall(_ channel: Int, _ handler: @escaping (RoutingID, Frame, [Frame]) throws -> Void) {
        let channel = self.channel(channel, "onCall")
        precondition(channel.spec.socket == .router, "onCall needs a ROUTER channel, \(channel.spec.name) is \(channel.spec.socket.rawValue)")
        channel.handler = .serve(handler)
    }

    /// A request on a ROUTER server: envelope and correlation frame off, to the handler.
    func serveCall(_ frames: [Frame], on channel: Channel, handler: (RoutingID, Frame, [Frame]) throws -> Void) throws {
        try route(frames, on: channel) { peer, body in
            guard let correlation = body.first else {
                drop(channel, "request without a correlation frame from \(peer)")
                return
            }
            try handler(peer, correlation, Array(body.dropFirst()))
        }
    }

    /// Sends an answer (correlation frame, status, body) to the caller `peer`.
    package func answerCall(_ frames: [Frame], on index: Int, to peer: RoutingID, failed: Bool) throws {
        try send(frames, on: index, to: peer)
        if failed { channels[index].counters.failed += 1 }
    }
}
