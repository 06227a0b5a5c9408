import CZeroMQ
import Synchronization

/// A libzmq context. Thread-safe (libzmq contexts are), so it is `Sendable`.
///
/// Lifetime is reference counted by Swift: every ``Socket`` holds its context strongly, and a
/// daemon holds its context until it has closed its sockets. When the last owner lets go the
/// context is terminated (`zmq_ctx_term`), which therefore always happens after every socket
/// of that context has been closed. Because every socket's linger is set explicitly, the
/// termination is bounded and never hangs.
public final class ZMQContext: @unchecked Sendable {
    /// The raw `void *` context handle (valid for the lifetime of this object).
    public let handle: UnsafeMutableRawPointer

    /// Creates a new, private context.
    public init() throws {
        guard let handle = zmq_ctx_new() else { throw ZMQError.last("zmq_ctx_new", "") }
        self.handle = handle
        // Never block termination on pending messages beyond the sockets' own linger.
        _ = zmq_ctx_set(handle, ZMQ_BLOCKY, 0)
    }

    deinit {
        let lingering = self.lingering.withLock { $0 }
        let started = monotonicNanoseconds()
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
        // Termination waits for every closed socket's linger; taking the whole of the longest
        // means that socket still held messages when its linger ran out.
        guard let longest = lingering.map(\.linger).max(), longest > 0 else { return }
        let took = monotonicNanoseconds() - started
        if took >= Int64(longest) * 1_000_000 - 5_000_000 {
            let names = lingering.filter { $0.linger == longest }.map(\.name)
            Self.expired.withLock { $0.append(contentsOf: names) }
        }
    }

    private let lingering = Mutex<[(name: String, linger: Int32)]>([])

    /// Notes that the socket `name`, which sent messages, closed with a positive linger.
    func noteLingering(_ name: String, linger: Int32) {
        lingering.withLock { $0.append((name, linger)) }
    }

    private static let expired = Mutex<[String]>([])

    /// The sockets (channel names) of this process whose linger ran out while the context
    /// terminated, since the last call, each once: their peers may not have received every
    /// message sent (libzmq's stable API cannot say how many). The process layer logs them as
    /// "messages possibly lost: linger expired" and exits with status 74.
    public static func takeLingerExpirations() -> [String] {
        expired.withLock { names in
            defer { names = [] }
            var seen = Set<String>()
            return names.filter { seen.insert($0).inserted }
        }
    }

    /// Makes every blocking call on this context's sockets fail with ETERM (`zmq_ctx_shutdown`):
    /// event loops on it end cleanly and their daemons close. The context itself is
    /// terminated later, when its last owner lets go.
    public func shutdown() {
        _ = zmq_ctx_shutdown(handle)
    }

    private struct Slot: @unchecked Sendable {
        weak var context: ZMQContext?
    }
    private static let sharedSlot = Mutex(Slot())

    /// The process-wide default context shared by all daemons (inproc only works within one
    /// context). A new one is created when the previous shared context has been released by
    /// its last owner.
    public static func shared() throws -> ZMQContext {
        try sharedSlot.withLock { slot in
            if let context = slot.context { return context }
            let context = try ZMQContext()
            slot.context = context
            return context
        }
    }
}
