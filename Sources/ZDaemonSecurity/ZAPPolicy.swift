import ZDaemon
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Who may connect to a CURVE server: the ZAP handler's decision rules for one domain.
///
/// Addresses are checked first: an address on ``denyIPs`` is refused, and when ``allowIPs``
/// is not empty an address not on it is refused. Then the client's public key must be on
/// ``allowedKeys``, unless ``allowAnyClient`` was set explicitly (any client that completes
/// the CURVE handshake, i.e. knows the server's public key, is then accepted: encryption
/// without client authentication, CZMQ's "Stonehouse").
public struct ZAPPolicy: Sendable, Equatable {
    /// Client public keys that may connect.
    public var allowedKeys: Set<CurveKey>
    /// Accept any CURVE client (the allow-list is then ignored). Must be asked for.
    public var allowAnyClient: Bool
    /// When not empty, only these addresses (IPv4/IPv6 literals or IPv4 CIDR `10.0.0.0/8`).
    public private(set) var allowIPs: [String]
    /// Addresses always refused (same forms as ``allowIPs``).
    public private(set) var denyIPs: [String]
    private var allowPatterns: [AddressPattern]
    private var denyPatterns: [AddressPattern]

    /// Creates a policy; throws ``ZAPPolicyError`` for an address that is neither an IP
    /// literal nor an IPv4 CIDR block (a typo must not silently match nothing).
    public init(allowedKeys: some Sequence<CurveKey> = [CurveKey](), allowAnyClient: Bool = false,
                allowIPs: [String] = [], denyIPs: [String] = []) throws(ZAPPolicyError) {
        self.allowedKeys = Set(allowedKeys)
        self.allowAnyClient = allowAnyClient
        self.allowIPs = allowIPs
        self.denyIPs = denyIPs
        allowPatterns = try allowIPs.map { (text) throws(ZAPPolicyError) in try AddressPattern(text) }
        denyPatterns = try denyIPs.map { (text) throws(ZAPPolicyError) in try AddressPattern(text) }
    }

    /// A policy that accepts exactly the public keys found in `directory` (see
    /// ``CurveKeyFile/readPublicKeys(directory:)``), with optional address lists.
    public static func allowList(directory: String, allowIPs: [String] = [], denyIPs: [String] = []) throws -> ZAPPolicy {
        try ZAPPolicy(allowedKeys: CurveKeyFile.readPublicKeys(directory: directory), allowIPs: allowIPs, denyIPs: denyIPs)
    }

    /// The decision for a ZAP request: `nil` = accepted, otherwise why not.
    public func refusal(mechanism: String, address: String, clientKey: CurveKey?) -> ZAPRefusalReason? {
        if denyPatterns.contains(where: { $0.matches(address) }) { return .addressDenied }
        if !allowPatterns.isEmpty && !allowPatterns.contains(where: { $0.matches(address) }) {
            return .addressNotAllowed
        }
        guard mechanism == "CURVE" else { return .mechanismNotAllowed(mechanism) }
        guard let clientKey else { return .malformedRequest("CURVE request without a 32-byte client key") }
        if allowAnyClient || allowedKeys.contains(clientKey) { return nil }
        return .keyNotAllowed
    }

    /// Equal when the rules are equal.
    public static func == (lhs: ZAPPolicy, rhs: ZAPPolicy) -> Bool {
        lhs.allowedKeys == rhs.allowedKeys && lhs.allowAnyClient == rhs.allowAnyClient
            && lhs.allowIPs == rhs.allowIPs && lhs.denyIPs == rhs.denyIPs
    }
}

/// A ZAP policy that cannot be built, e.g. `allow_ips: '10.0.0.300' is not an IP address or
/// IPv4 CIDR block`.
public struct ZAPPolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Why the ZAP handler refused a client.
public enum ZAPRefusalReason: Sendable, Hashable, CustomStringConvertible {
    /// The client's public key is not on the allow-list.
    case keyNotAllowed
    /// The client's address is on the deny list.
    case addressDenied
    /// An address allow-list is set and the client's address is not on it.
    case addressNotAllowed
    /// The client used a mechanism other than CURVE (e.g. `NULL`, `PLAIN`).
    case mechanismNotAllowed(String)
    /// No policy is registered for the request's ZAP domain (fail closed).
    case noPolicy(domain: String)
    /// The request did not follow ZAP 1.0.
    case malformedRequest(String)

    /// A short, stable name for counting (`key_not_allowed`, `address_denied`, ...).
    public var code: String {
        switch self {
        case .keyNotAllowed: "key_not_allowed"
        case .addressDenied: "address_denied"
        case .addressNotAllowed: "address_not_allowed"
        case .mechanismNotAllowed: "mechanism_not_allowed"
        case .noPolicy: "no_policy"
        case .malformedRequest: "malformed_request"
        }
    }

    /// Human-readable reason, used in the log line and the ZAP status text.
    public var description: String {
        switch self {
        case .keyNotAllowed: "public key not on the allow-list"
        case .addressDenied: "address on the deny list"
        case .addressNotAllowed: "address not on the allow list"
        case .mechanismNotAllowed(let mechanism): "mechanism \(mechanism) not allowed (CURVE required)"
        case .noPolicy(let domain): "no ZAP policy for domain '\(domain)'"
        case .malformedRequest(let why): "malformed ZAP request: \(why)"
        }
    }
}

/// An IP literal or an IPv4 CIDR block.
struct AddressPattern: Sendable, Equatable {
    private enum Kind: Equatable {
        case exact([UInt8])
        case ipv4Block(network: UInt32, mask: UInt32)
    }
    private let kind: Kind

    init(_ text: String) throws(ZAPPolicyError) {
        let trimmed = text.zapTrimmed
        if let slash = trimmed.firstIndex(of: "/") {
            let address = String(trimmed[..<slash])
            guard let bytes = AddressPattern.ipv4(address), let bits = Int(trimmed[trimmed.index(after: slash)...]),
                  (0...32).contains(bits)
            else { throw ZAPPolicyError("'\(text)' is not an IP address or IPv4 CIDR block") }
            let mask: UInt32 = bits == 0 ? 0 : UInt32.max << UInt32(32 - bits)
            kind = .ipv4Block(network: AddressPattern.value(bytes) & mask, mask: mask)
        } else if let bytes = AddressPattern.ipv4(trimmed) ?? AddressPattern.ipv6(trimmed) {
            kind = .exact(bytes)
        } else {
            throw ZAPPolicyError("'\(text)' is not an IP address or IPv4 CIDR block")
        }
    }

    func matches(_ address: String) -> Bool {
        switch kind {
        case .exact(let bytes):
            return (AddressPattern.ipv4(address) ?? AddressPattern.ipv6(address)) == bytes
        case .ipv4Block(let network, let mask):
            guard let bytes = AddressPattern.ipv4(address) else { return false }
            return AddressPattern.value(bytes) & mask == network
        }
    }

    private static func value(_ bytes: [UInt8]) -> UInt32 {
        bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    static func ipv6(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }
}

extension String {
    var zapTrimmed: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}
