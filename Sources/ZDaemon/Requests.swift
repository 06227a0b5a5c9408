/// zgen's request/reply wire layout, which every REQ/REP channel and every request channel
/// (DEALER caller, ROUTER server) speaks; README "Requests and replies" spells it out for peers
/// in other languages. Everything zgen adds is a prefix frame, so messages stay free to grow at
/// the tail.
///
/// - A request is the request message's frames; on a request channel (DEALER → ROUTER) the caller
///   puts a correlation-id frame first (any bytes; zgen's callers send 8 bytes, a big-endian
///   counter) and the server copies it back in front of the reply.
/// - A reply starts with a status frame: `ok` (then the reply message's frames), `error` (then
///   the frames of the channel's declared error message) or `failure` (then one UTF-8 frame: a
///   short reason, at most ``reasonLimit`` bytes).
public enum RequestWire {
    /// The status frame of a reply that carries the reply message.
    public static let ok: Frame = Array("ok".utf8)
    /// The status frame of a reply that carries the channel's declared error message.
    public static let error: Frame = Array("error".utf8)
    /// The status frame of a reply that says the server could not answer (one reason frame follows).
    public static let failure: Frame = Array("failure".utf8)
    /// The longest reason a failure reply carries, in bytes (a longer one is cut).
    public static let reasonLimit = 256

    /// The frames of a failure reply with `reason` (cut to ``reasonLimit`` bytes).
    static func failureReply(_ reason: String) -> [Frame] {
        [failure, Array(reason.utf8.prefix(reasonLimit))]
    }

    /// What the reply `frames` say: the reply's body, the declared error's body, or a failure
    /// (also for a reply that does not follow the layout).
    package static func outcome(of frames: [Frame]) -> Result<[Frame], RequestFailure<[Frame]>> {
        guard let status = frames.first else { return .failure(.remote(RemoteFailure(reason: "malformed reply: no frames"))) }
        let body = Array(frames.dropFirst())
        switch status {
        case ok: return .success(body)
        case error: return .failure(.declared(body))
        case failure: return .failure(.remote(RemoteFailure(reason: body.first.map(reason(from:)) ?? "")))
        default:
            let shown = String(decoding: status.prefix(32), as: UTF8.self)
            return .failure(.remote(RemoteFailure(reason: "malformed reply: status frame '\(shown)' is not ok, error or failure")))
        }
    }

    /// A peer's reason, made safe to log: cut to ``reasonLimit`` bytes, control characters shown as `?`.
    static func reason(from frame: Frame) -> String {
        String(decoding: frame.prefix(reasonLimit), as: UTF8.self).map { $0.isASCII && ($0.asciiValue! < 0x20 || $0.asciiValue! == 0x7f) ? "?" : String($0) }.joined()
    }

    /// The correlation id a zgen caller sends: `id` as 8 bytes, big-endian.
    static func correlation(_ id: UInt64) -> Frame { withUnsafeBytes(of: id.bigEndian) { Array($0) } }

    /// The id in a correlation frame zgen sent, if it is one.
    static func correlationID(_ frame: Frame) -> UInt64? {
        guard frame.count == 8 else { return nil }
        return frame.reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// The server could not answer a request with its reply or its declared error: its handler
/// threw, the request did not decode, or the reply did not follow the layout.
public struct RemoteFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The reason the server gave (or what was wrong with its reply).
    public var reason: String
    /// Creates the failure.
    public init(reason: String) { self.reason = reason }
    /// `the server could not answer: <reason>`.
    public var description: String { "the server could not answer: \(reason)" }
}

/// Why a request got no reply message: the channel's declared error (`Declared`; `Never` when
/// the channel declares none), a failure on the server's side, or no reply in time. With the
/// reply itself these are the four outcomes of a request.
public enum RequestFailure<Declared: Sendable>: Error, CustomStringConvertible {
    /// The server answered with the channel's declared error message.
    case declared(Declared)
    /// The server could not answer (see ``RemoteFailure``).
    case remote(RemoteFailure)
    /// No reply within the request's timeout; a reply that comes later is dropped and counted as `late`.
    case timeout(RequestTimeout)

    /// What happened, in one line.
    public var description: String {
        switch self {
        case .declared(let error): "the server answered with \(error)"
        case .remote(let failure): failure.description
        case .timeout(let timeout): timeout.description
        }
    }
}

extension RequestFailure: Equatable where Declared: Equatable {}

/// `Never` is the declared error of a channel that declares none: no frames decode as one.
extension Never: FrameMessage {
    /// Always throws: a channel without a declared error has no error message to decode.
    public init(from reader: inout FrameReader) throws {
        throw FrameDecodingError(message: "Never", frame: "error", index: 0, reason: "the channel declares no error message")
    }

    /// Never called: there is no value.
    public func encodeFrames() -> [Frame] { switch self {} }
}

/// What a REP handler or a request server answers with, below the typed layer.
@usableFromInline package enum RequestAnswer {
    /// The reply message's frames.
    case reply([Frame])
    /// The declared error message's frames.
    case error([Frame])
}

extension Result where Success == [Frame], Failure == RequestFailure<[Frame]> {
    /// The typed outcome: the body decoded as `R`, the declared error as `E`; what does not decode
    /// becomes a ``RemoteFailure`` (`malformed reply: …`), so a caller always gets an outcome.
    @inlinable
    package func typed<R: FrameMessage, E: FrameMessage>(_ reply: R.Type, _ error: E.Type) -> Result<R, RequestFailure<E>> {
        switch self {
        case .success(let body):
            do { return .success(try R(frames: body)) } catch {
                return .failure(.remote(RemoteFailure(reason: "malformed reply: \(error)")))
            }
        case .failure(.declared(let body)):
            do { return .failure(.declared(try E(frames: body))) } catch {
                return .failure(.remote(RemoteFailure(reason: "malformed error reply: \(error)")))
            }
        case .failure(.remote(let failure)): return .failure(.remote(failure))
        case .failure(.timeout(let timeout)): return .failure(.timeout(timeout))
        }
    }
}

/// The answer to one request received on a ROUTER request channel: ``reply(_:)``, or
/// ``fail(_:)`` with the channel's declared error, or ``fail(reason:)``, exactly once, now or later.
/// Use it on the daemon's loop (from the handler, a timer, another handler); it is not
/// `Sendable`. A request that is never answered times out at its caller.
///
/// A handler that throws before answering answers for you: the declared error as that error,
/// anything else as a failure with the error's description as the reason. A responder kept
/// after its daemon has shut down throws ``DaemonFinishedError``.
public final class Responder<Reply: FrameMessage, Declared: FrameMessage & Error> {
    let daemon: Daemon
    let channel: Int
    let peer: RoutingID
    let correlation: Frame
    /// Whether this request has been answered.
    public private(set) var isAnswered = false

    @usableFromInline init(daemon: Daemon, channel: Int, peer: RoutingID, correlation: Frame) {
        self.daemon = daemon
        self.channel = channel
        self.peer = peer
        self.correlation = correlation
    }

    /// Answers with the reply message.
    public func reply(_ message: Reply) throws {
        try answer(.reply(try message.encodeFrames()))
    }

    /// Answers with the channel's declared error message.
    public func fail(_ error: Declared) throws {
        try answer(.error(try error.encodeFrames()))
    }

    /// Answers with a failure and a short reason (cut to ``RequestWire/reasonLimit`` bytes).
    public func fail(reason: String) throws {
        try send([correlation] + RequestWire.failureReply(reason), failed: true)
    }

    private func answer(_ answer: RequestAnswer) throws {
        switch answer {
        case .reply(let body): try send([correlation, RequestWire.ok] + body, failed: false)
        case .error(let body): try send([correlation, RequestWire.error] + body, failed: true)
        }
    }

    /// Sends the answer; only a sent answer counts (one that could not be sent, say to a full
    /// queue, can be given again).
    private func send(_ frames: [Frame], failed: Bool) throws {
        guard !isAnswered else { throw ZDaemonError("this request on \(daemon.channelSpec(channel).name) has already been answered") }
        guard !daemon.isClosed else { throw DaemonFinishedError(daemon: daemon.spec.name) }
        try daemon.answerCall(frames, on: channel, to: peer, failed: failed)
        isAnswered = true
    }
}
