/// A channel's transport security, as declared in the schema (`"security": "curve"`).
///
/// The runtime core only knows whether a channel is secured; the keys and the mechanism live in
/// a security provider (`ZDaemonSecurity`) plugged in through the daemon's configuration.
public enum ChannelSecurity: String, Sendable, Hashable, CaseIterable {
    /// Plaintext (libzmq's NULL mechanism): the default.
    case none
    /// CURVE encryption and authentication (ZeroMQ RFC 26), clients authorised by ZAP.
    case curve

    /// The start-up error of a secured channel whose daemon was given no security material:
    /// it names the run-time configuration keys that provide it.
    public func unconfiguredMessage(daemon: String, channel: String, isServer: Bool) -> String {
        switch self {
        case .none:
            return "\(daemon) channel \(channel) needs no security configuration"
        case .curve:
            let missing = isServer ? "client policy" : "server's public key"
            return "\(daemon) channel \(channel) is a CURVE channel but no keys are configured (set "
                + "\(SecurityKey.curveSecretKeyFile.rawValue) and the \(missing) in [run:\(SecurityKey.sectionName)] "
                + "or [run:\(daemon).\(channel)])"
        }
    }
}

/// The run-time configuration keys of a CURVE channel (`[run:security]`, `[run:<Daemon>.<channel>]`,
/// `ZGEN_…` and `--set`). Keys never appear in a schema.
public enum SecurityKey: String, Sendable, Hashable, CaseIterable {
    /// This side's secret key file (zcert format; its public key is read alongside).
    case curveSecretKeyFile = "curve_secret_key_file"
    /// This side's public key file, checked against the secret key file's.
    case curvePublicKeyFile = "curve_public_key_file"
    /// A client's copy of the server's public certificate.
    case curveServerPublicKeyFile = "curve_server_public_key_file"
    /// A server's directory of the client certificates that may connect.
    case curveAllowDir = "curve_allow_dir"
    /// `true`: a server accepts any client that completes the handshake.
    case curveAllowAny = "curve_allow_any"
    /// Comma-separated addresses or IPv4 CIDR blocks a server accepts.
    case allowIPs = "allow_ips"
    /// Comma-separated addresses or IPv4 CIDR blocks a server refuses.
    case denyIPs = "deny_ips"

    /// The section (`[run:security]`) whose keys apply to every CURVE channel.
    public static let sectionName = "security"
}
