import CZeroMQ

extension SocketEvent {
    /// A readable name for a libzmq handshake protocol error (`ZMQ_PROTOCOL_ERROR_*`, the value
    /// of ``SocketEvent/handshakeFailedProtocol(endpoint:code:)``), with what it usually means
    /// for a CURVE channel: `cryptographic error (wrong server key, or the peer's keys do not match)`.
    /// `secured` says whether the channel uses a security mechanism, which tells what a
    /// mechanism mismatch most likely means.
    public static func protocolErrorName(_ code: Int, secured: Bool = true) -> String {
        switch Int32(truncatingIfNeeded: code) {
        case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
            "cryptographic error (a client used the wrong server key, or keys do not match)"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
            secured
                ? "security mechanism mismatch (e.g. a plaintext peer on a CURVE channel)"
                : "security mechanism mismatch (the peer is not a plaintext ZeroMQ peer: a CURVE peer, or not ZeroMQ at all)"
        case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND: "unexpected ZMTP command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE: "invalid ZMTP sequence"
        case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE: "key exchange failed"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED: "malformed ZMTP command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_MESSAGE: "malformed MESSAGE command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_HELLO: "malformed HELLO command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_INITIATE: "malformed INITIATE command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_ERROR: "malformed ERROR command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_READY: "malformed READY command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME: "malformed WELCOME command"
        case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA: "invalid ZMTP metadata"
        case ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED: "unspecified ZMTP error"
        case ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED: "unspecified ZAP error"
        case ZMQ_PROTOCOL_ERROR_ZAP_MALFORMED_REPLY: "malformed ZAP reply"
        case ZMQ_PROTOCOL_ERROR_ZAP_BAD_REQUEST_ID: "ZAP reply with a bad request id"
        case ZMQ_PROTOCOL_ERROR_ZAP_BAD_VERSION: "ZAP reply with a bad version"
        case ZMQ_PROTOCOL_ERROR_ZAP_INVALID_STATUS_CODE: "ZAP reply with an invalid status code"
        case ZMQ_PROTOCOL_ERROR_ZAP_INVALID_METADATA: "ZAP reply with invalid metadata"
        default: "0x" + String(code, radix: 16)
        }
    }
}
