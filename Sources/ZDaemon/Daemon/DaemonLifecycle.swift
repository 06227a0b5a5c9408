import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Opening the channels, running the loop, and the phased shutdown.
extension Daemon {
    /// Opens every channel (creates, configures, binds/connects and registers the sockets).
    /// Called by ``run()``; call it earlier to learn bound endpoints or to fail fast. On
    /// failure every socket opened so far is closed again.
    public func open() throws {
        guard state == .created else {
            if state == .closed { throw ZDaemonError("\(spec.name) is closed") }
            return
        }
        do {
            for channel in channels { try openSocket(of: channel) }
        } catch {
            for channel in channels { closeSocket(of: channel) }
            closeSecuritySessions()
            throw error
        }
        state = .open
        handle.publishEndpoints(channels.map(\.boundEndpoints))
    }

    /// Creates, secures, configures, binds or connects and registers one channel's socket (also
    /// when a REQ timeout reopens it).
    func openSocket(of channel: Channel) throws {
        guard let context else { throw ZDaemonError("\(spec.name) has released its context") }
        let spec = channel.spec
        let socket = try Socket(spec.socket, context: context, linger: channel.linger, name: spec.name)
        do {
            func set(_ option: SocketOption) throws {
                do {
                    try socket.setOption(option)
                } catch let error as ZDaemonError {
                    throw ZDaemonError("channel \(spec.name): \(error.message)")
                }
            }
            if spec.security != .none {
                // Before the monitor, bind and connect: security options apply at connection time.
                try securitySession(for: channel, context: context).secure(socket)
            }
            // Secured channels are always observed, so that handshake failures are logged.
            if configuration.monitorSocketEvents || channel.eventHandler != nil || spec.security != .none {
                try startMonitor(of: channel, socket: socket)  // before bind/connect: `listening`/`connected` too
            }
            if spec.socket.canSend { try set(.sendHWM(spec.hwm)) }
            if spec.socket.canReceive { try set(.receiveHWM(spec.hwm)) }
            if spec.options.maxMessageSize == nil {
                // Bounded by default: no peer makes a daemon take a huge frame (or subscription).
                try set(.maxMessageSize(Int64([.pub, .xpub].contains(spec.socket)
                    ? ChannelLimits.defaultMaxSubscriptionSize : ChannelLimits.defaultMaxMessageSize)))
            }
            for option in spec.options.socketOptions { try set(option) }
            if spec.socket.canReceive {
                socket.maxParts = Int(spec.options.maxParts ?? Int32(ChannelLimits.defaultMaxParts))
                socket.maxTotalSize = Int(spec.options.maxTotalSize ?? Int32(ChannelLimits.defaultMaxTotalSize))
            }
            if spec.socket != .xsub {  // on anything but SUB, this throws the "does not apply" error
                for prefix in spec.subscribe { try set(.subscribe(Array(prefix.utf8))) }
            }
            var bound: [String] = []
            for endpoint in spec.endpoints {
                if spec.bind { bound.append(try socket.bind(endpoint)) } else { try socket.connect(endpoint) }
            }
            if spec.socket == .xsub {
                // XSUB subscribes by message (0x01 + prefix). libzmq remembers each subscription
                // and sends it to every publisher that connects later, so once is enough.
                for prefix in spec.subscribe { _ = try socket.send([[1] + Array(prefix.utf8)], dontWait: true) }
            }
            channel.boundEndpoints = bound
        } catch {
            // A failed bind or connect has already been reported to the monitor: deliver it
            // (logged, counted, handler) before the monitor goes.
            if channel.monitor != nil { socketEvents(channel) }
            stopMonitor(of: channel)
            socket.close(linger: 0)
            throw error
        }
        channel.socket = socket
        channel.registration = loop.register(socket, events: spec.socket.canReceive ? .readable : [],
                                             name: "channel \(spec.name)") { [unowned self, unowned channel] events in
            self.service(channel, events)
        }
    }

    /// The provider's session of a secured channel, opened the first time its socket opens.
    private func securitySession(for channel: Channel, context: ZMQContext) throws -> any ChannelSecuritySession {
        if let session = securitySessions[channel.index] { return session }
        guard let security = configuration.security else {
            throw SecurityConfigurationError(channel.spec.security.unconfiguredMessage(
                daemon: spec.name, channel: channel.spec.name, isServer: channel.spec.isCurveServer))
        }
        let session = try security.openSession(for: channel.spec, daemon: spec.name, context: context, logger: logger)
        securitySessions[channel.index] = session
        return session
    }

    private func closeSecuritySessions() {
        for session in securitySessions.values { session.close() }
        securitySessions = [:]
    }

    /// Closes a channel's socket (and its monitor) and forgets its registration and REQ timer.
    func closeSocket(of channel: Channel, linger: Int32? = nil) {
        stopMonitor(of: channel)
        if let registration = channel.registration { loop.unregister(registration) }
        channel.registration = nil
        channel.socket?.close(linger: linger ?? channel.linger)
        channel.socket = nil
        channel.replyTimer?.cancel()
        channel.replyTimer = nil
    }

    /// Opens the channels, logs `<Name> has begun processing messages`, runs the loop on the
    /// calling thread until ``terminate()`` (or context termination), then shuts down: handles
    /// what is already queued, flushes sends within the linger, closes the sockets and
    /// releases the context. Blocks the calling thread.
    ///
    /// A start handler (``onStart(_:)``) that throws fails the run: the remaining start
    /// handlers do not run, no queued message is handled, the channels close, and `run()`
    /// throws that error (also recorded on the ``handle``). A daemon never runs half-started.
    /// A will-terminate handler (``onWillTerminate(_:)``) that throws is logged, the shutdown
    /// goes on, and `run()` throws that error once the channels are closed.
    public func run() throws {
        guard state == .created || state == .open else { throw ZDaemonError("\(spec.name) has already run") }
        var failure: (any Error)?
        var startFailure: (any Error)?
        var runWatchdog: Watchdog?  // stopped after the shutdown, which runs the will-terminate hooks
        do {
            try open()
            state = .running
            let watchdog = Watchdog(activity: loop.activity, threshold: blockingThreshold,
                                    logger: logger, name: spec.name)
            watchdog.start()
            runWatchdog = watchdog
            logger.info("\(spec.name) has begun processing messages")
            handle.markStarted()
            if !terminating {
                // On this (the loop's) thread before the loop's first poll, so before any message.
                loop.activity.begin(loop.activity.label("onStart"))  // for the watchdog
                do {
                    for body in startHandlers { try body() }
                } catch {
                    startFailure = error
                    terminating = true
                }
                loop.activity.end()
            }
            if !terminating {
                try loop.run()
                if !terminating {
                    // The loop ended on its own: the context was shut down (ETERM).
                    terminating = true
                    logger.info("\(spec.name) is terminating (context shut down)")
                }
            }
            if let startFailure { throw startFailure }
        } catch {
            failure = error
            logger.error("\(spec.name) stopped: \(error)")
        }
        let hookFailure = shutdown(handlingQueued: startFailure == nil)
        runWatchdog?.stop()
        if failure == nil { failure = hookFailure }
        handle.markFinished(failure)
        if let failure { throw failure }
    }

    /// At a shutdown that ran out of time: takes what is still queued on `channel` without
    /// handling it (bounded, non-blocking), counts it as dropped and logs how many.
    private func dropQueued(on channel: Channel) {
        guard let socket = channel.socket else { return }
        var dropped = 0
        var frames: [Frame] = []
        while dropped < terminateDrainLimit {
            do {
                guard try socket.receive(into: &frames, dontWait: true) else { break }
            } catch is OversizedMessageError {
            } catch {
                break
            }
            dropped += 1
        }
        guard dropped > 0 else { return }
        channel.counters.dropped += dropped
        logger.warning("\(spec.name): \(dropped) queued messages on \(channel.spec.name) dropped unhandled: the shutdown deadline passed")
    }

    /// `5`, or `2.500`: a duration in seconds, for log lines.
    public static func describe(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        return milliseconds == 0 ? "\(seconds)" : String(format: "%.3f", Double(seconds) + Double(milliseconds) / 1000)
    }

    /// Stops the daemon: logs `<Name> is terminating` and ends the loop; ``run()`` then handles
    /// the messages already waiting, flushes pending sends (bounded by the linger), closes the
    /// sockets and releases the context. Call it from a handler or timer; from another thread
    /// use ``DaemonHandle/terminate()``. Calling it again has no effect.
    public func terminate() {
        guard !terminating, state != .closed else { return }
        terminating = true
        logger.info("\(spec.name) is terminating")
        handle.markTerminating()
        loop.stop()
        // Client sends waiting for room fail now (DaemonFinishedError): none waits forever.
        for channel in channels where !channel.spaceWaiters.isEmpty { wakeSpaceWaiters(of: channel) }
    }

    /// The phased shutdown: 1. handle what already reached the process, then run the
    /// will-terminate handlers (neither when the daemon failed to start), 2. flush the send
    /// queues within the linger, 3. close the sockets, release the handlers (so that nothing a
    /// handler captured outlives the daemon) and the context. Returns a will-terminate handler's
    /// error.
    private func shutdown(handlingQueued: Bool = true) -> (any Error)? {
        guard state != .closed else { return nil }
        var hookFailure: (any Error)?
        terminating = true  // also when the loop ended with an error: drain ignores pauses
        shuttingDown = true
        handle.markTerminating()
        for channel in channels where !channel.spaceWaiters.isEmpty { wakeSpaceWaiters(of: channel) }
        let clock = SystemClock()
        let handlingDeadline = clock.now() + shutdownTimeout
        // 1. What already reached the process is handled (non-blocking, bounded in count and,
        // message by message, by the shutdown deadline).
        if state == .running && handlingQueued {
            var cut = false
            for channel in channels where channel.spec.socket.canReceive && channel.socket != nil {
                var handled = 0
                while handled < terminateDrainLimit, !cut {
                    let taken = drain(channel, limit: 1)
                    handled += taken
                    if taken == 0 { break }
                    if clock.now() >= handlingDeadline { cut = true }
                }
                if cut { dropQueued(on: channel) }
            }
            if cut {
                logger.warning("\(spec.name): the shutdown deadline (\(Self.describe(shutdownTimeout)) s) passed before all queued input was handled")
                handle.markCutShort()
            }
            for channel in channels where channel.droppedAtTerminate > 0 {
                logger.warning("\(spec.name): \(channel.droppedAtTerminate) messages on \(channel.spec.name) dropped at terminate: its stream buffer was full")
            }
            loop.runPendingTasks()
            // On the loop's thread, before the flush: what the handlers send still goes out.
            // (They run even after a cut: they are how a daemon says goodbye.)
            loop.activity.begin(loop.activity.label("onWillTerminate"))  // for the watchdog
            for body in willTerminateHandlers {
                do {
                    try body()
                } catch {
                    logger.error("\(spec.name): will-terminate handler failed: \(error)")
                    if hookFailure == nil { hookFailure = error }
                }
            }
            loop.activity.end()
            loop.runPendingTasks()  // what the hooks posted with `execute`
        }
        // 2. Flush the runtime's send queues within the linger.
        let deadline = clock.now() + linger
        while clock.now() < deadline {
            let waiting = channels.filter { $0.pendingCount > 0 && $0.socket != nil }
            if waiting.isEmpty { break }
            var items = waiting.map {
                zmq_pollitem_t(socket: $0.socket!.handle, fd: 0, events: Int16(ZMQ_POLLOUT), revents: 0)
            }
            let timeout = Int((deadline - clock.now()).milliseconds)
            let count = Int32(items.count)
            if zmq_poll(&items, count, max(timeout, 0)) < 0 && zmq_errno() != EINTR { break }
            for (index, channel) in waiting.enumerated() where items[index].revents != 0 { flush(channel) }
        }
        for channel in channels where channel.pendingCount > 0 {
            logger.warning("\(spec.name): \(channel.pendingCount) unsent messages on \(channel.spec.name) dropped at terminate")
            channel.counters.dropped += channel.pendingCount
            channel.clearPending()
        }
        // 3. Close the sockets (libzmq keeps delivering what it holds for the linger), then
        // release the context: the last owner terminates it.
        for channel in channels {
            abandonCalls(of: channel)  // requests still in flight end (their callers learn it)
            closeSocket(of: channel)
            channel.reportMetrics()
            channel.releaseHandlers()
        }
        startHandlers = []
        willTerminateHandlers = []
        repeatedLog.flush(to: logger)  // what the summaries still owe
        closeSecuritySessions()
        context = nil
        state = .closed  // before the loop closes: the work it still runs finds the daemon closed
        loop.close()
        return hookFailure
    }
}
