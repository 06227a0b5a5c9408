import ZDaemon
import CZeroMQ
import Foundation
import Logging
import Metrics
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One refused ZAP request, as logged: never contains a secret key (ZAP never carries one).
public struct ZAPRefusal: Sendable, Equatable, CustomStringConvertible {
    /// The ZAP domain of the server socket (the runtime uses `<Daemon>.<channel>`).
    public var domain: String
    /// The peer's IP address as libzmq reports it.
    public var address: String
    /// The security mechanism the client used (`CURVE`, `NULL`, ...).
    public var mechanism: String
    /// The client's public key (Z85), when it presented one.
    public var publicKey: String?
    /// Why it was refused.
    public var reason: ZAPRefusalReason

    /// Creates a refusal record.
    public init(domain: String, address: String, mechanism: String, publicKey: String?, reason: ZAPRefusalReason) {
        self.domain = domain
        self.address = address
        self.mechanism = mechanism
        self.publicKey = publicKey
        self.reason = reason
    }

    /// `refused CURVE client <key> from <address> (domain '<domain>'): <reason>`.
    public var description: String {
        "refused \(mechanism) client \(publicKey ?? "(no key)") from \(address) (domain '\(domain)'): \(reason)"
    }
}

/// Counts of a ZAP handler's decisions.
public struct ZAPStatistics: Sendable, Equatable {
    /// Requests accepted (status 200).
    public var accepted: Int = 0
    /// Requests refused (status 400 or 500), in total.
    public var refused: Int = 0
    /// Refusals by ``ZAPRefusalReason/code``.
    public var refusedByReason: [String: Int] = [:]
    /// Refusals by ZAP domain.
    public var refusedByDomain: [String: Int] = [:]
    /// Creates empty counts.
    public init() {}
}

/// The ZAP 1.0 handler (ZeroMQ RFC 27) of one libzmq context: a ROUTER bound to
/// `inproc://zeromq.zap.01` on a thread of its own, deciding for every CURVE server socket of
/// the context by the ``ZAPPolicy`` registered for the socket's ZAP domain.
///
/// A CURVE request for a domain without a policy is refused (fail closed); a `NULL`-mechanism
/// request for a domain without a policy (a plaintext socket that set a domain) is accepted,
/// since plaintext was that socket's declared choice. Refusals are logged at warning level
/// with the peer's address, its public key (Z85) and the reason, and counted (also as the
/// swift-metrics counter `zdaemon_zap_refused` with dimensions `domain` and `reason`).
///
/// libzmq consults a ZAP handler only if it is bound when a connection's handshake happens,
/// so register the policy (``register(domain:policy:context:logger:)``) before binding the
/// server socket. Only one handler can exist per context; the registry shares it between all
/// daemons of the context and stops it when its last registration is cancelled.
public final class ZAPHandler: Sendable {
    /// The endpoint libzmq sends ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"

    private struct State {
        var policies: [String: (policy: ZAPPolicy, registrations: Int)] = [:]
        var statistics = ZAPStatistics()
        var recent: [ZAPRefusal] = []
        var stopped = false
        /// Per refusal reason and domain: the current 10 s window of log lines.
        var logWindows: [String: LogWindow] = [:]
    }

    /// How many refusals of one kind a window logged in full, and what it left out.
    private struct LogWindow {
        var start: ContinuousClock.Instant
        var logged = 0
        var suppressed = 0
        var last = ""
    }

    /// Refusals of one reason and domain logged in full per window (then counted).
    static let refusalLinesPerWindow = 5
    /// The window.
    static let refusalWindow = Duration.seconds(10)

    /// The sockets, moved from the creating thread to the handler thread (libzmq allows moving
    /// a socket between threads with a full memory barrier; thread start provides it).
    private final class Sockets: @unchecked Sendable {
        let router: Socket
        let control: Socket
        init(router: Socket, control: Socket) {
            self.router = router
            self.control = control
        }
    }

    private final class Stopper: @unchecked Sendable {
        var socket: Socket?
        init(_ socket: Socket) { self.socket = socket }
    }

    /// What the handler thread shares with the owner (the thread must not keep the handler
    /// itself alive, or releasing the last reference would never stop it).
    private final class Core: Sendable {
        let state = Mutex(State())
        let logger: Logger
        init(logger: Logger) { self.logger = logger }
    }

    private let core: Core
    private let stopper: Mutex<Stopper>
    private let finished = DispatchSemaphore(value: 0)
    /// The context the handler serves.
    public let context: ZMQContext

    /// Binds the ZAP endpoint in `context` and starts the handler thread. Throws a
    /// ``ZMQError`` (`bind inproc://zeromq.zap.01: Address already in use`) when the context
    /// already has a ZAP handler; use ``register(domain:policy:context:logger:)`` to share one.
    public init(context: ZMQContext, logger: Logger = Logger(label: "zdaemon.zap")) throws {
        self.context = context
        let core = Core(logger: logger)
        self.core = core
        let router = try Socket(.router, context: context, linger: 0, name: "ZAP handler")
        try router.bind(ZAPHandler.endpoint)
        var random = [UInt8](repeating: 0, count: 8)
        for index in random.indices { random[index] = UInt8.random(in: 0...255) }
        let controlEndpoint = "inproc://zdaemon-zap-control-\(random.map { String($0, radix: 16) }.joined())"
        let control = try Socket(.pair, context: context, linger: 0, name: "ZAP handler control")
        try control.bind(controlEndpoint)
        let stop = try Socket(.pair, context: context, linger: 0, name: "ZAP handler stop")
        try stop.connect(controlEndpoint)
        stopper = Mutex(Stopper(stop))
        let sockets = Sockets(router: router, control: control)
        let finished = self.finished
        let thread = Thread {
            ZAPHandler.serve(sockets, core)
            sockets.router.close(linger: 0)
            sockets.control.close(linger: 0)
            finished.signal()
        }
        thread.name = "zap-handler"
        thread.start()
    }

    deinit { stop() }

    // MARK: Policies

    /// Sets (or replaces) the policy of `domain`.
    public func setPolicy(_ policy: ZAPPolicy, domain: String) {
        core.state.withLock { $0.policies[domain] = (policy, max(1, $0.policies[domain]?.registrations ?? 1)) }
    }

    /// Removes the policy of `domain`: its CURVE clients are refused from now on.
    public func removePolicy(domain: String) {
        _ = core.state.withLock { $0.policies.removeValue(forKey: domain) }
    }

    /// The policy of `domain`, if any.
    public func policy(domain: String) -> ZAPPolicy? {
        core.state.withLock { $0.policies[domain]?.policy }
    }

    /// The decisions so far.
    public var statistics: ZAPStatistics { core.state.withLock { $0.statistics } }

    /// The last (at most 100) refusals, oldest first.
    public var recentRefusals: [ZAPRefusal] { core.state.withLock { $0.recent } }

    /// Stops the handler thread and closes its sockets (bounded wait). Idempotent. From then
    /// on libzmq finds no handler: CURVE servers of the context must be closed too.
    public func stop() {
        let first = core.state.withLock { state -> Bool in
            defer { state.stopped = true }
            return !state.stopped
        }
        guard first else { return }
        stopper.withLock { stopper in
            if let socket = stopper.socket {
                _ = try? socket.send([[]], dontWait: true)
                socket.close(linger: 0)
            }
            stopper.socket = nil
        }
        _ = finished.wait(timeout: .now() + .seconds(5))
    }

    // MARK: Shared handler per context

    private struct Shared: @unchecked Sendable {
        var handlers: [ObjectIdentifier: ZAPHandler] = [:]
    }
    private static let registry = Mutex(Shared())

    /// Registers `policy` for `domain` with the context's shared ZAP handler, starting it when
    /// the context has none. The returned registration keeps the policy (and the handler)
    /// alive until it is cancelled or released. Registering the same domain again with an
    /// equal policy shares it; with a different policy it is a ``ZAPPolicyError``.
    public static func register(domain: String, policy: ZAPPolicy, context: ZMQContext,
                                logger: Logger = Logger(label: "zdaemon.zap")) throws -> ZAPRegistration {
        try registry.withLock { registry in
            let key = ObjectIdentifier(context)
            let handler: ZAPHandler
            if let existing = registry.handlers[key] {
                handler = existing
            } else {
                handler = try ZAPHandler(context: context, logger: logger)
                registry.handlers[key] = handler
            }
            try handler.core.state.withLock { (state) throws(ZAPPolicyError) in
                if let existing = state.policies[domain] {
                    guard existing.policy == policy else {
                        throw ZAPPolicyError("ZAP domain '\(domain)' is already registered with a different policy")
                    }
                    state.policies[domain]?.registrations += 1
                } else {
                    state.policies[domain] = (policy, 1)
                }
            }
            return ZAPRegistration(handler: handler, domain: domain)
        }
    }

    /// The shared handler of `context`, if one is running.
    public static func shared(for context: ZMQContext) -> ZAPHandler? {
        registry.withLock { $0.handlers[ObjectIdentifier(context)] }
    }

    fileprivate func release(domain: String) {
        let stopNow = ZAPHandler.registry.withLock { registry -> Bool in
            let empty = core.state.withLock { state -> Bool in
                if let entry = state.policies[domain] {
                    if entry.registrations <= 1 {
                        state.policies.removeValue(forKey: domain)
                    } else {
                        state.policies[domain]?.registrations -= 1
                    }
                }
                return state.policies.isEmpty
            }
            let key = ObjectIdentifier(context)
            if empty, registry.handlers[key] === self {
                registry.handlers.removeValue(forKey: key)
                return true
            }
            return false
        }
        if stopNow { stop() }
    }

    // MARK: The handler thread

    private static func serve(_ sockets: Sockets, _ core: Core) {
        guard let routerHandle = sockets.router.handle, let controlHandle = sockets.control.handle else { return }
        var items = [
            zmq_pollitem_t(socket: routerHandle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0),
            zmq_pollitem_t(socket: controlHandle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0),
        ]
        var frames: [Frame] = []
        while true {
            items[0].revents = 0
            items[1].revents = 0
            if zmq_poll(&items, 2, -1) < 0 {
                if zmq_errno() == EINTR { continue }
                return  // ETERM: the context is shutting down
            }
            if items[1].revents != 0 { return }
            guard items[0].revents != 0 else { continue }
            do {
                while try sockets.router.receive(into: &frames, dontWait: true) {
                    if let reply = answer(frames, core) { _ = try sockets.router.send(reply, dontWait: true) }
                }
            } catch let error as ZMQError where error.isContextTerminated {
                return
            } catch {
                core.logger.error("ZAP handler: \(error)")
            }
        }
    }

    /// Decides one request; returns the reply (with the request's envelope), or `nil` when the
    /// request cannot be answered at all.
    private static func answer(_ frames: [Frame], _ core: Core) -> [Frame]? {
        let logger = core.logger
        // [routing id…, empty delimiter, "1.0", request id, domain, address, identity, mechanism, credentials…]
        guard let delimiter = frames.firstIndex(where: { $0.isEmpty }) else { return nil }
        let envelope = Array(frames[...delimiter])
        let body = Array(frames[(delimiter + 1)...])
        guard body.count >= 6, body[0] == Array("1.0".utf8) else {
            // Without a version and request id there is no valid reply to give.
            logger.warning("ZAP handler: dropped a request that is not ZAP 1.0")
            return nil
        }
        let requestID = body[1]
        let domain = String(decoding: body[2], as: UTF8.self)
        let address = String(decoding: body[3], as: UTF8.self)
        let mechanism = String(decoding: body[5], as: UTF8.self)
        let credentials = Array(body.dropFirst(6))
        var clientKey: CurveKey?
        if mechanism == "CURVE", credentials.count == 1 { clientKey = try? CurveKey(bytes: credentials[0]) }

        let policy = core.state.withLock { $0.policies[domain]?.policy }
        let reason: ZAPRefusalReason?
        if let policy {
            reason = policy.refusal(mechanism: mechanism, address: address, clientKey: clientKey)
        } else if mechanism == "NULL" {
            reason = nil
        } else {
            reason = .noPolicy(domain: domain)
        }

        func reply(_ status: String, _ text: String, user: String) -> [Frame] {
            envelope + [Array("1.0".utf8), requestID, Array(status.utf8), Array(text.utf8), Array(user.utf8), []]
        }
        guard let reason else {
            core.state.withLock { $0.statistics.accepted += 1 }
            logger.debug("ZAP accepted \(mechanism) client \(clientKey?.z85 ?? "(no key)") from \(address) (domain '\(domain)')")
            return reply("200", "OK", user: clientKey?.z85 ?? "")
        }
        let refusal = ZAPRefusal(domain: domain, address: address, mechanism: mechanism,
                                 publicKey: clientKey?.z85, reason: reason)
        core.state.withLock { state in
            state.statistics.refused += 1
            state.statistics.refusedByReason[reason.code, default: 0] += 1
            state.statistics.refusedByDomain[domain, default: 0] += 1
            state.recent.append(refusal)
            if state.recent.count > 100 { state.recent.removeFirst(state.recent.count - 100) }
        }
        Counter(label: "zdaemon_zap_refused", dimensions: [("domain", domain), ("reason", reason.code)]).increment()
        // A client retrying with a wrong key is refused several times a second: the first few
        // lines of a window in full, then one line says how many more (at the next refusal of
        // that kind after the window; the SIGUSR1 dump has the totals).
        let now = ContinuousClock.now
        let (log, summary) = core.state.withLock { state -> (Bool, String?) in
            let key = "\(reason.code) \(domain)"
            var window = state.logWindows[key] ?? LogWindow(start: now)
            var summary: String?
            if now - window.start >= refusalWindow {
                if window.suppressed > 0 {
                    summary = "ZAP refused \(window.suppressed) more clients (\(reason.code), domain '\(domain)') in the last \(refusalWindow.components.seconds) s; the last: \(window.last)"
                }
                window = LogWindow(start: now)
            }
            let log = window.logged < refusalLinesPerWindow
            if log { window.logged += 1 } else { window.suppressed += 1; window.last = "\(refusal)" }
            state.logWindows[key] = window
            return (log, summary)
        }
        if let summary { logger.warning("\(summary)") }
        if log {
            logger.warning("ZAP \(refusal)", metadata: [
                "zap_domain": .string(domain), "peer_address": .string(address),
                "peer_public_key": .string(clientKey?.z85 ?? ""), "reason": .string(reason.code),
            ])
        }
        if case .malformedRequest = reason { return reply("500", reason.description, user: "") }
        return reply("400", reason.description, user: "")
    }
}

/// A policy registered with a context's shared ``ZAPHandler``; cancelling (or releasing) it
/// removes the policy, and the last one stops the handler.
public final class ZAPRegistration: Sendable {
    /// The handler the policy is registered with.
    public let handler: ZAPHandler
    /// The ZAP domain.
    public let domain: String
    private let cancelled = Atomic<Bool>(false)

    fileprivate init(handler: ZAPHandler, domain: String) {
        self.handler = handler
        self.domain = domain
    }

    deinit { cancel() }

    /// Removes the policy (idempotent).
    public func cancel() {
        guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        handler.release(domain: domain)
    }
}
