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
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
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
