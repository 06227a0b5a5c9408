import CZeroMQ
import ZDaemon

/// The CURVE side a socket takes, with the keys it needs.
public enum CurveRole: Sendable, Equatable {
    /// The CURVE server: its own key pair (clients must know its public key).
    case server(CurveKeyPair)
    /// A CURVE client: its own key pair and the server's public key.
    case client(CurveKeyPair, serverKey: CurveKey)

    /// `server` or `client`.
    public var name: String {
        switch self {
        case .server: "server"
        case .client: "client"
        }
    }
}

extension Socket {
    /// Makes this socket a CURVE server or client (ZMQ_CURVE_SERVER, ZMQ_CURVE_SECRETKEY,
    /// ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SERVERKEY) and sets its ZAP domain (ZMQ_ZAP_DOMAIN).
    /// Call before bind/connect: libzmq takes security options at connection time.
    ///
    /// A server consults the context's ZAP handler when one is bound; register a policy first
    /// (``ZAPHandler/register(domain:policy:context:logger:)``), or every client that knows the
    /// server's public key gets in.
    /// - Throws: ``CurveUnavailableError`` without CURVE support (never a silent plaintext
    ///   socket), ``ZMQError`` when libzmq refuses an option.
    public func applyCurve(_ role: CurveRole, zapDomain: String? = nil) throws {
        try CurveSupport.require(for: "\(name)")
        guard let handle else {
            throw ZMQError(operation: "setsockopt", subject: "CURVE on \(name)", code: ENOTSOCK, message: "socket is closed")
        }
        func set(_ option: Int32, _ optionName: String, _ bytes: [UInt8]) throws {
            let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
            if rc != 0 { throw ZMQError.last("setsockopt", "\(optionName) on \(name)") }
        }
        func set(_ option: Int32, _ optionName: String, _ value: Int32) throws {
            var value = value
            if zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) != 0 {
                throw ZMQError.last("setsockopt", "\(optionName) on \(name)")
            }
        }
        if let zapDomain { try set(ZMQ_ZAP_DOMAIN, "ZAP_DOMAIN", Array(zapDomain.utf8)) }
        switch role {
        case .server(let pair):
            try set(ZMQ_CURVE_SERVER, "CURVE_SERVER", 1)
            try set(ZMQ_CURVE_PUBLICKEY, "CURVE_PUBLICKEY", pair.publicKey.bytes)
            try set(ZMQ_CURVE_SECRETKEY, "CURVE_SECRETKEY", pair.secretKey.bytes)
        case .client(let pair, let serverKey):
            try set(ZMQ_CURVE_SERVERKEY, "CURVE_SERVERKEY", serverKey.bytes)
            try set(ZMQ_CURVE_PUBLICKEY, "CURVE_PUBLICKEY", pair.publicKey.bytes)
            try set(ZMQ_CURVE_SECRETKEY, "CURVE_SECRETKEY", pair.secretKey.bytes)
        }
    }

    /// The security mechanism libzmq will use (ZMQ_MECHANISM): `NULL`, `PLAIN`, `CURVE`, `GSSAPI`.
    public func mechanism() throws -> String {
        guard let handle else {
            throw ZMQError(operation: "getsockopt", subject: "MECHANISM on \(name)", code: ENOTSOCK, message: "socket is closed")
        }
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(handle, ZMQ_MECHANISM, &value, &size) != 0 {
            throw ZMQError.last("getsockopt", "MECHANISM on \(name)")
        }
        switch value {
        case ZMQ_NULL: return "NULL"
        case ZMQ_PLAIN: return "PLAIN"
        case ZMQ_CURVE: return "CURVE"
        case ZMQ_GSSAPI: return "GSSAPI"
        default: return "\(value)"
        }
    }
}
