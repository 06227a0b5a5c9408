import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIGINT and SIGTERM as a graceful end, for daemons hosted without the process layer
/// (`ZDaemonProcess`, which handles them itself) or a `ServiceGroup` (whose
/// `gracefulShutdownSignals` do).
///
/// From async code, run the app in ``cancelling(on:_:)``: the first signal cancels it, so every
/// daemon it runs with `DaemonThread.run` terminates gracefully (logs terminating, handles what
/// is queued, flushes); a second signal ends the process at once, as the default action would.
///
/// ```swift
/// try await TerminationSignals.cancelling {
///     try await withThrowingTaskGroup(of: Void.self) { group in … }
/// }
/// ```
///
/// On a plain thread, ``watch(_:_:)`` calls an action per signal: `{ _ in handle.terminate() }`.
///
/// Signals are caught with a handler that writes to a pipe, and the actions run on a thread of
/// their own, so they may do anything (an action is not called in signal context). While a watch is
/// active its signals do not end the process; when the last watch of a signal is cancelled, the
/// disposition it had before comes back.
public enum TerminationSignals {
    /// SIGINT (Ctrl-C) and SIGTERM (`kill`, systemd, Kubernetes).
    public static let defaults: [Int32] = [SIGINT, SIGTERM]

    /// Calls `action` with the signal number, on a thread of its own, each time one of `signals`
    /// arrives, until the returned watch is cancelled.
    public static func watch(_ signals: [Int32] = defaults, _ action: @escaping @Sendable (Int32) -> Void) -> SignalWatch {
        SignalDispatcher.shared.add(signals: Set(signals), action: action)
    }

    /// Runs `body` in a task of its own; the first of `signals` cancels it (and with it the daemons
    /// it runs with `withRunning` or `DaemonThread.run`, which terminate gracefully), a second one
    /// ends the process as the signal's default action does. Cancelling the calling task cancels
    /// `body` too.
    ///
    /// Returns what `body` returns, or `nil` when a signal cancelled it and it ended with what
    /// cancelling causes (`CancellationError`, or ``DaemonFinishedError`` from a daemon that
    /// terminated meanwhile): a signal is a normal end, not an error. Rethrows any other error.
    @discardableResult
    public static func cancelling<R: Sendable>(on signals: [Int32] = defaults,
                                               _ body: @escaping @Sendable () async throws -> R) async throws -> R? {
        // The watch comes first, so that no signal arrives between the start of `body` and it.
        let state = Mutex<(task: Task<R, any Error>?, signals: Int)>((nil, 0))
        let watch = watch(signals) { signal in
            let (task, count) = state.withLock { state in
                state.signals += 1
                return (state.task, state.signals)
            }
            if count == 1 { task?.cancel() } else { SignalDispatcher.endProcess(by: signal) }
        }
        let task = Task { try await body() }
        let signalled = state.withLock { state in
            state.task = task
            return state.signals > 0
        }
        if signalled { task.cancel() }
        defer { watch.cancel() }
        do {
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        } catch is CancellationError where state.withLock({ $0.signals > 0 }) {
            return nil
        } catch is DaemonFinishedError where state.withLock({ $0.signals > 0 }) {
            return nil
        }
    }
}

/// An active ``TerminationSignals/watch(_:_:)``; `cancel()` ends it.
public final class SignalWatch: Sendable {
    let id: Int

    init(id: Int) { self.id = id }

    /// Stops calling the action (a call already under way on the signal thread finishes); the
    /// signals it watched get their previous disposition back once no other watch has them.
    /// Calling it again has no effect.
    public func cancel() { SignalDispatcher.shared.remove(id) }
}

/// The write end of the pipe the signal handler writes to (-1 before the first watch).
private let signalPipeWrite = Atomic<Int32>(-1)

/// The signal handler: one byte (the signal number) down the pipe, nothing else (async-signal-safe).
private let writeSignalToPipe: @convention(c) (Int32) -> Void = { signal in
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(signalPipeWrite.load(ordering: .relaxed), &byte, 1)
    errno = saved
}

/// The process's one signal pipe and reader thread, and the active watches.
final class SignalDispatcher: Sendable {
    static let shared = SignalDispatcher()

    private struct Watch {
        let signals: Set<Int32>
        let action: @Sendable (Int32) -> Void
    }

    private struct State {
        var started = false
        var nextID = 0
        var watches: [Int: Watch] = [:]
        /// The disposition each caught signal had before its first watch.
        var previous: [Int32: sigaction] = [:]
    }

    private let state = Mutex(State())

    func add(signals: Set<Int32>, action: @escaping @Sendable (Int32) -> Void) -> SignalWatch {
        let watch: SignalWatch? = state.withLock { state in
            if !state.started {
                guard startReader() else { return nil }
                state.started = true
            }
            state.nextID += 1
            state.watches[state.nextID] = Watch(signals: signals, action: action)
            for signal in signals where state.previous[signal] == nil {
                state.previous[signal] = Self.setHandler(writeSignalToPipe, for: signal)
            }
            return SignalWatch(id: state.nextID)
        }
        // The reader thread takes the new signals from now on.
        wakeReader()
        // Without a pipe nothing is caught: the signals keep their default action (they are
        // never swallowed), and the one line says why.
        return watch ?? SignalWatch(id: 0)
    }

    /// The signals some watch catches now.
    private var watchedSignals: Set<Int32> { state.withLock { Set($0.watches.values.flatMap(\.signals)) } }

    /// Tells the reader thread to take the watched signals (byte 0: not a signal).
    private func wakeReader() {
        var byte: UInt8 = 0
        _ = write(signalPipeWrite.load(ordering: .relaxed), &byte, 1)
    }

    func remove(_ id: Int) {
        state.withLock { state in
            guard let removed = state.watches.removeValue(forKey: id) else { return }
            for signal in removed.signals where !state.watches.values.contains(where: { $0.signals.contains(signal) }) {
                if var old = state.previous.removeValue(forKey: signal) { sigaction(signal, &old, nil) }
            }
        }
        wakeReader()
    }

    /// Ends the process as `signal`'s default action does (a second Ctrl-C while shutting down).
    static func endProcess(by number: Int32) -> Never {
        setHandler(SIG_DFL, for: number)
        kill(getpid(), number)
        _exit(128 + number)
    }

    /// Installs `handler` for `signal` (restarting interrupted calls); returns what was there.
    @discardableResult
    private static func setHandler(_ handler: __sighandler_t?, for signal: Int32) -> sigaction {
        var action = sigaction()
        #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = handler
        #else
            action.__sigaction_u.__sa_handler = handler
        #endif
        action.sa_flags = SA_RESTART
        sigemptyset(&action.sa_mask)
        var old = sigaction()
        sigaction(signal, &action, &old)
        return old
    }

    /// Creates the pipe and the thread that reads it and runs the actions; `false` (and one line
    /// on standard error) when there is no pipe.
    private func startReader() -> Bool {
        var fds: [Int32] = [-1, -1]
        #if canImport(Glibc)
            // Close-on-exec from the start: no fork and exec on another thread inherits it.
            let made = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0
        #else
            let made = pipe(&fds) == 0
            if made { for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) } }
        #endif
        guard made else {
            let message = "zdaemon: SIGINT and SIGTERM cannot be caught (socket pair: \(String(cString: strerror(errno)))); they keep their default action\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            return false
        }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)  // a full pipe never blocks the handler
        signalPipeWrite.store(fds[1], ordering: .relaxed)
        let readFD = fds[0]
        let thread = Thread { [self] in
            var byte: UInt8 = 0
            while true {
                // This thread takes the watched signals, so a caught one reaches the handler even
                // when every other thread blocks it (the cooperative pool's threads do, and the
                // threads they start); it blocks every other signal, whose delivery is not its
                // business (an app's own sigwait, a default action).
                var mask = sigset_t()
                sigfillset(&mask)
                for signal in watchedSignals { sigdelset(&mask, signal) }
                pthread_sigmask(SIG_SETMASK, &mask, nil)
                let count = read(readFD, &byte, 1)
                if count < 0 && errno == EINTR { continue }
                guard count == 1 else { return }
                if byte == 0 { continue }  // the watched signals changed
                let signal = Int32(byte)
                let actions = state.withLock { state in
                    state.watches.sorted { $0.key < $1.key }.filter { $0.value.signals.contains(signal) }.map(\.value.action)
                }
                for action in actions { action(signal) }
            }
        }
        thread.name = "zdaemon.signals"
        thread.start()
        return true
    }
}
