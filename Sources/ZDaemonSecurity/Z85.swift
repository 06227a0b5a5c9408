/// ZeroMQ's Base-85 text encoding of binary data (ZeroMQ RFC 32/Z85), as used for CURVE keys
/// in configuration and certificate files.
///
/// Pure Swift (no libzmq call), so it is usable before a context exists and in tests. The
/// input of ``encode(_:)`` must be a multiple of 4 bytes and that of ``decode(_:)`` a multiple
/// of 5 characters, as the RFC requires: no padding is invented.
public enum Z85 {
    /// The RFC 32 alphabet, in value order.
    static let alphabet: [UInt8] = Array(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Byte → digit value, 0xFF for a character outside the alphabet.
    static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    /// Encodes `bytes` (a multiple of 4 long) as Z85 text.
    /// - Throws: ``Z85Error`` when the length is not a multiple of 4.
    public static func encode(_ bytes: [UInt8]) throws(Z85Error) -> String {
        guard bytes.count % 4 == 0 else {
            throw Z85Error("Z85 input of \(bytes.count) bytes is not a multiple of 4")
        }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count / 4 * 5)
        var index = 0
        while index < bytes.count {
            var value = UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16
            value |= UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
            var group = [UInt8](repeating: 0, count: 5)
            for position in stride(from: 4, through: 0, by: -1) {
                group[position] = alphabet[Int(value % 85)]
                value /= 85
            }
            out += group
            index += 4
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes Z85 `text` (a multiple of 5 characters) into bytes.
    /// - Throws: ``Z85Error`` for a bad length, a character outside the alphabet, or a group
    ///   whose value does not fit in 32 bits.
    public static func decode(_ text: String) throws(Z85Error) -> [UInt8] {
        let characters = Array(text.utf8)
        guard characters.count % 5 == 0 else {
            throw Z85Error("Z85 text of \(characters.count) characters is not a multiple of 5")
        }
        var out: [UInt8] = []
        out.reserveCapacity(characters.count / 5 * 4)
        var index = 0
        while index < characters.count {
            var value: UInt64 = 0
            for offset in index..<(index + 5) {
                let digit = values[Int(characters[offset])]
                guard digit != 0xFF else {
                    // Name the character (not the whole text: it may be a secret key).
                    let shown = characters[offset] < 0x80
                        ? String(decoding: [characters[offset]], as: UTF8.self) : "non-ASCII byte"
                    throw Z85Error("invalid Z85 character '\(shown)' at offset \(offset)")
                }
                value = value * 85 + UInt64(digit)
            }
            guard value <= UInt64(UInt32.max) else {
                throw Z85Error("Z85 group at offset \(index) exceeds 32 bits")
            }
            out += [UInt8(truncatingIfNeeded: value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                    UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)]
            index += 5
        }
        return out
    }
}

/// Text that is not valid Z85, or bytes that cannot be encoded. The message never quotes the
/// input (it may be a secret key).
public struct Z85Error: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, e.g. `invalid Z85 character '~' at offset 3`.
    public var message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
