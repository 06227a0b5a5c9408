import Logging
import Synchronization

/// The typed messages received on a streamed channel (`"stream": true` in the schema), as an
/// `AsyncSequence` for async code: `for try await job in worker.jobMessages { … }`.
///
/// - **Bounded, and it does not drop.** Decoded messages wait in a buffer of
///   ``DaemonConfiguration/streamBuffer`` messages. When it is full, the daemon stops reading the
///   channel's socket, so libzmq's queue fills up to the high-water mark and the senders are held
///   back: a PUSH, DEALER or PAIR peer blocks or queues, as for any slow peer. A PUB does not wait
///   (libzmq drops at its high-water mark for any slow subscriber), so a streamed SUB or XSUB loses
///   what is published while its consumers lag, unless the publisher is an XPUB with
///   `xpubNoDrop`. Reading resumes once the consumers have taken half the buffer.
/// - **At terminate** the daemon reads what reached the process; what the full buffer cannot
///   take is counted as `dropped` and logged. Messages still buffered when the last reference to
///   the stream goes are logged as never consumed.
/// - **Malformed messages** are counted as `dropped` and logged, and never reach the sequence, as
///   with handlers.
/// - **The end.** When the daemon has finished, the sequence yields what is still buffered, then
///   ends (`nil`), or throws the error the daemon's run failed with.
/// - **Consumers.** Any number of tasks may iterate; each message goes to one of them, in order of
///   their waiting. A consumer whose task is cancelled while it waits gets `nil` (the end of its
///   loop) and takes no message.
public struct InboundMessages<Message: Sendable>: AsyncSequence, Sendable {
    /// The messages, decoded.
    public typealias Element = Message

    private let source: Result<InboundBuffer<Message>, ZDaemonError>

    init(_ buffer: InboundBuffer<Message>) { source = .success(buffer) }
    init(unavailable error: ZDaemonError) { source = .failure(error) }

    /// An iterator that takes messages from the buffer, suspending while it is empty.
    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let source: Result<InboundBuffer<Message>, ZDaemonError>

        /// The next message; `nil` once the daemon has finished and the buffer is empty, or when
        /// the calling task is cancelled while waiting. Throws the daemon's run error, or the
        /// error that the channel is not streamed.
        public mutating func next() async throws -> Message? {
            try await source.get().next()
        }
    }

    /// Makes an iterator; each message goes to exactly one of a sequence's iterators.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(source: source) }

    /// Consumers waiting for a message now (for tests and diagnostics).
    package var waitingConsumers: Int { (try? source.get().waitingConsumers) ?? 0 }
}

/// What a daemon's handle ends when the daemon has finished.
protocol InboundEnding: AnyObject, Sendable {
    /// Ends the stream: consumers take what is buffered, then get `nil` (or `error`).
    func finish(_ error: (any Error)?)
}

/// The buffer of a streamed channel: filled on the daemon's loop, emptied by async consumers.
final class InboundBuffer<Message: Sendable>: InboundEnding {
    private struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Message?, any Error>
    }

    private struct State {
        var items: [Message] = []
        var head = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        /// `next()` calls under way that have not got their outcome yet.
        var live: Set<UInt64> = []
        /// Live calls cancelled before they were added as waiters.
        var cancelled: Set<UInt64> = []
        /// The loop stopped reading the socket; it is asked to resume at half the capacity.
        var full = false
        /// Set when the daemon has finished: `.success` for a plain end.
        var end: Result<Void, any Error>?

        var count: Int { items.count - head }

        mutating func take() -> Message? {
            guard head < items.count else { return nil }
            let message = items[head]
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
            return message
        }
    }

    /// What a waiting `next()` found under the lock.
    private enum Outcome {
        case message(Message, resume: Bool)
        case end(Result<Void, any Error>)
        case cancelled
        case waiting
    }

    /// How many decoded messages may wait before the loop stops reading the socket.
    let capacity: Int
    private let state = Mutex(State())
    /// Asks the loop to read the socket again (posted to it).
    private let resumeReading: @Sendable () -> Void
    private let channel: String
    private let logger: Logger

    init(capacity: Int, channel: String, logger: Logger, resumeReading: @escaping @Sendable () -> Void) {
        self.capacity = max(1, capacity)
        self.channel = channel
        self.logger = logger
        self.resumeReading = resumeReading
    }

    deinit {
        // Messages nobody took are not lost silently.
        let left = state.withLock { $0.count }
        if left > 0 { logger.warning("\(left) messages streamed on \(channel) were never consumed") }
    }

    /// Consumers waiting for a message now.
    var waitingConsumers: Int { state.withLock { $0.waiters.count } }

    /// On the loop: hands `message` to the longest-waiting consumer, or buffers it. Returns
    /// `false` when the buffer is now full: the loop must stop reading until it is told to resume.
    func push(_ message: Message) -> Bool {
        let (waiter, room): (CheckedContinuation<Message?, any Error>?, Bool) = state.withLock { state in
            if !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                state.live.remove(waiter.id)
                return (waiter.continuation, true)
            }
            state.items.append(message)
            if state.count >= capacity {
                state.full = true
                return (nil, false)
            }
            return (nil, true)
        }
        waiter?.resume(returning: message)
        return room
    }

    func finish(_ error: (any Error)?) {
        let waiters: [Waiter] = state.withLock { state in
            guard state.end == nil else { return [] }
            state.end = error.map { .failure($0) } ?? .success(())
            for waiter in state.waiters { state.live.remove(waiter.id) }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters {
            if let error { waiter.continuation.resume(throwing: error) } else { waiter.continuation.resume(returning: nil) }
        }
    }

    /// Takes a buffered message if there is one (and whether the loop must now resume reading).
    private func takeBuffered(_ state: inout State) -> (Message, resume: Bool)? {
        guard let message = state.take() else { return nil }
        var resume = false
        if state.full && (state.count * 2 <= capacity || state.count == 0) {
            state.full = false
            resume = true
        }
        return (message, resume)
    }

    func next() async throws -> Message? {
        // The common case under load: a message is waiting.
        if let (message, resume) = state.withLock({ takeBuffered(&$0) }) {
            if resume { resumeReading() }
            return message
        }
        let id = state.withLock { state in
            state.nextID += 1
            state.live.insert(state.nextID)
            return state.nextID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Message?, any Error>) in
                let outcome: Outcome = state.withLock { state in
                    if state.cancelled.remove(id) != nil {
                        state.live.remove(id)
                        return .cancelled
                    }
                    if let (message, resume) = takeBuffered(&state) {
                        state.live.remove(id)
                        return .message(message, resume: resume)
                    }
                    if let end = state.end {
                        state.live.remove(id)
                        return .end(end)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return .waiting
                }
                switch outcome {
                case .message(let message, let resume):
                    if resume { resumeReading() }
                    continuation.resume(returning: message)
                case .end(.success): continuation.resume(returning: nil)
                case .end(.failure(let error)): continuation.resume(throwing: error)
                case .cancelled: continuation.resume(returning: nil)
                case .waiting: break
                }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                if let index = state.waiters.firstIndex(where: { $0.id == id }) {
                    state.live.remove(id)
                    return state.waiters.remove(at: index)
                }
                // Not waiting yet: the call finds this when it would wait. Already done: nothing to do.
                if state.live.contains(id) { state.cancelled.insert(id) }
                return nil
            }
            waiter?.continuation.resume(returning: nil)
        }
    }
}
