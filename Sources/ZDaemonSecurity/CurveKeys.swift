import ZDaemon
import CZeroMQ

/// Whether this libzmq can do CURVE (it was built with libsodium or tweetnacl).
public enum CurveSupport {
    /// `zmq_has("curve")`.
    public static var isAvailable: Bool { zmq_has("curve") != 0 }

    /// Throws ``CurveUnavailableError`` naming `subject` (e.g. a channel) when CURVE is not
    /// available, so a CURVE channel never silently falls back to plaintext.
    public static func require(for subject: String) throws(CurveUnavailableError) {
        guard isAvailable else { throw CurveUnavailableError(subject: subject) }
    }
}

/// CURVE was asked for but this libzmq has no CURVE support.
public struct CurveUnavailableError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What needed CURVE, e.g. `MyServer channel job`.
    public var subject: String
    /// Creates the error.
    public init(subject: String) { self.subject = subject }
    /// `<subject>: CURVE security is not available in this libzmq (zmq_has("curve") is false; ...)`.
    public var description: String {
        "\(subject): CURVE security is not available in this libzmq (zmq_has(\"curve\") is false; "
            + "install a libzmq built with libsodium)"
    }
}

/// The checks both key types make: 32 bytes, or 40 Z85 characters (errors never quote the text).
enum CurveKeyText {
    static func checked(_ bytes: [UInt8]) throws(Z85Error) -> [UInt8] {
        guard bytes.count == 32 else { throw Z85Error("a CURVE key is 32 bytes, got \(bytes.count)") }
        return bytes
    }

    static func decode(_ text: String) throws(Z85Error) -> [UInt8] {
        let count = text.utf8.count
        guard count == 40 else {
            throw Z85Error("a CURVE key is 40 Z85 characters (32 bytes), got \(count)")
        }
        return try Z85.decode(text)
    }
}

/// A CURVE public key: 32 bytes, written as 40 Z85 characters. Safe to log and share.
public struct CurveKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 key bytes.
    public let bytes: [UInt8]

    /// Wraps 32 key bytes.
    /// - Throws: ``Z85Error`` when `bytes` is not 32 bytes long.
    public init(bytes: [UInt8]) throws(Z85Error) {
        self.bytes = try CurveKeyText.checked(bytes)
    }

    /// Parses a key from its 40 Z85 characters.
    /// - Throws: ``Z85Error`` for a wrong length or invalid Z85.
    public init(z85 text: String) throws(Z85Error) {
        try self.init(bytes: CurveKeyText.decode(text))
    }

    /// The key's 40 Z85 characters.
    public var z85: String { (try? Z85.encode(bytes)) ?? "" }

    /// The Z85 text.
    public var description: String { z85 }
}

/// A CURVE secret key. Its description, debug description and reflection never show the key:
/// interpolating one into a log line prints `<secret key>`.
public struct CurveSecretKey: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// The 32 key bytes. Handle with care: pass them only to libzmq or a 0600 file.
    public let bytes: [UInt8]

    /// Wraps 32 key bytes.
    /// - Throws: ``Z85Error`` when `bytes` is not 32 bytes long.
    public init(bytes: [UInt8]) throws(Z85Error) {
        self.bytes = try CurveKeyText.checked(bytes)
    }

    /// Parses a secret key from its 40 Z85 characters (errors never quote the text).
    /// - Throws: ``Z85Error`` for a wrong length or invalid Z85.
    public init(z85 text: String) throws(Z85Error) {
        try self.init(bytes: CurveKeyText.decode(text))
    }

    /// The key's 40 Z85 characters, for writing the secret file only.
    public var z85: String { (try? Z85.encode(bytes)) ?? "" }

    /// The public key that belongs to this secret key (`zmq_curve_public`).
    /// - Throws: ``CurveUnavailableError`` without CURVE support.
    public func publicKey() throws(CurveUnavailableError) -> CurveKey {
        try CurveSupport.require(for: "deriving a CURVE public key")
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = z85.utf8CString
        let rc = secretText.withUnsafeMutableBufferPointer { secret in
            zmq_curve_public(&publicText, secret.baseAddress)
        }
        // Wipe our copy of the secret's text.
        for index in secretText.indices { secretText[index] = 0 }
        let text = String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard rc == 0, let key = try? CurveKey(z85: text) else {
            throw CurveUnavailableError(subject: "deriving a CURVE public key")
        }
        return key
    }

    /// Always `<secret key>`.
    public var description: String { "<secret key>" }
    /// Always `<secret key>`.
    public var debugDescription: String { "<secret key>" }
    /// A mirror without children, so `dump` and reflection show nothing of the key.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A CURVE key pair: the public key (shareable) and the secret key (never logged).
public struct CurveKeyPair: Sendable, Hashable, CustomStringConvertible {
    /// The public half.
    public let publicKey: CurveKey
    /// The secret half.
    public let secretKey: CurveSecretKey

    /// Pairs a public and a secret key; throws ``CurveKeyMismatchError`` when the public key
    /// is not the one that belongs to the secret key.
    public init(publicKey: CurveKey, secretKey: CurveSecretKey) throws {
        let derived = try secretKey.publicKey()
        guard derived == publicKey else { throw CurveKeyMismatchError() }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// The pair of a secret key (its public key is derived).
    public init(secretKey: CurveSecretKey) throws(CurveUnavailableError) {
        self.publicKey = try secretKey.publicKey()
        self.secretKey = secretKey
    }

    /// A new random key pair (`zmq_curve_keypair`, libsodium's generator).
    /// - Throws: ``CurveUnavailableError`` without CURVE support.
    public static func generate() throws(CurveUnavailableError) -> CurveKeyPair {
        try CurveSupport.require(for: "generating a CURVE key pair")
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        defer { for index in secretText.indices { secretText[index] = 0 } }
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else {
            throw CurveUnavailableError(subject: "generating a CURVE key pair")
        }
        func text(_ chars: [CChar]) -> String {
            String(decoding: chars.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        guard let publicKey = try? CurveKey(z85: text(publicText)),
              let secretKey = try? CurveSecretKey(z85: text(secretText))
        else { throw CurveUnavailableError(subject: "generating a CURVE key pair") }
        return CurveKeyPair(unchecked: publicKey, secretKey)
    }

    private init(unchecked publicKey: CurveKey, _ secretKey: CurveSecretKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// `key pair <public Z85>` (the secret is never shown).
    public var description: String { "key pair \(publicKey.z85)" }
}

/// A public key that does not belong to the secret key it was paired with.
public struct CurveKeyMismatchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Creates the error.
    public init() {}
    /// `public-key does not belong to secret-key`.
    public var description: String { "public-key does not belong to secret-key" }
}
