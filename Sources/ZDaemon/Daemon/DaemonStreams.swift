// Streamed channels: received messages go to an `InboundMessages` buffer for async consumers
// instead of a handler; a full buffer stops the reading of the socket.
extension Daemon {
    /// Streams what `channel` receives: each message is decoded with `decode` on the loop and
    /// buffered for the consumers of ``InboundMessages`` (see there). Replaces the channel's
    /// handler. Call it before ``run()``; the stream is reachable from other tasks through the
    /// ``handle`` (``DaemonClient/messages(_:as:)``).
    package func stream<Message: Sendable>(_ index: Int, decode: @escaping (ReceivedFrames) throws -> Message)
        -> InboundMessages<Message>
    {
        let channel = receivingChannel(index, "stream")
        let buffer = InboundBuffer<Message>(capacity: streamBuffer, channel: channel.spec.name, logger: logger) {
            [weak handle] in _ = handle?.submit { daemon in daemon?.resumeReading(index) }
        }
        // unowned(unsafe): the handler is the channel's own, released at shutdown.
        channel.handler = .receiveBorrowed { [unowned(unsafe) channel] frames, daemon in
            if channel.streamFull {
                // Only at terminate, which reads what reached the process: the buffer stays
                // bounded, and what it cannot take is counted (and logged once, at the end).
                channel.counters.dropped += 1
                channel.droppedAtTerminate += 1
                return
            }
            if !buffer.push(try decode(frames)) {
                channel.streamFull = true
                daemon.updateReading(channel)
            }
        }
        handle.registerStream(buffer, channel: index, channelName: channel.spec.name)
        return InboundMessages(buffer)
    }

    /// A consumer has emptied half the stream buffer of the channel at `index`: read again.
    private func resumeReading(_ index: Int) {
        let channel = channels[index]
        guard channel.streamFull else { return }
        channel.streamFull = false
        updateReading(channel)
    }
}
