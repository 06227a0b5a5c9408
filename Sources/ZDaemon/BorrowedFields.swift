// Decoding fields straight from frames borrowed from libzmq's receive buffers: what the handlers
// of `"borrow": true` channels are called with. Nothing is copied and nothing is allocated; every
// check an owned decode makes (frame count, widths, 0/1 booleans, UTF-8) is made here too.

extension ReceivedFrames {
    /// Checks the number of frames against a message's declaration: at least `required` (the
    /// frames without a default) and at most `declared`, unless `extraFrames` is `ignore`
    /// (`ignoringExtra`). Throws the ``FrameDecodingError`` an owned decode would throw;
    /// `names` (the frames' names, in order) is evaluated only then.
    @inlinable @inline(__always)
    public func checkCount(
        _ type: any FrameMessage.Type, required: Int, declared: Int, ignoringExtra: Bool,
        names: @autoclosure () -> [String]
    ) throws {
        if count < required { throw missingFrame(type, names()) }
        if count > declared && !ignoringExtra { throw extraFrame(type, declared: declared) }
    }

    @usableFromInline func missingFrame(_ type: any FrameMessage.Type, _ names: [String]) -> FrameDecodingError {
        FrameDecodingError(message: String(describing: type), frame: count < names.count ? names[count] : "",
                           index: count, reason: "missing frame")
    }

    @usableFromInline func extraFrame(_ type: any FrameMessage.Type, declared: Int) -> FrameDecodingError {
        FrameDecodingError(message: String(describing: type), frame: "", index: declared, reason: "unexpected extra frame")
    }

    @usableFromInline func malformed(_ type: any FrameMessage.Type, _ name: String, _ index: Int, _ reason: String) -> FrameDecodingError {
        FrameDecodingError(message: String(describing: type), frame: name, index: index, reason: reason)
    }

    /// Frame `index`'s bytes; an index past the message is a programming error (the generated
    /// wiring checks the count first, so the check folds away there).
    @inlinable @inline(__always)
    func frame(_ index: Int) -> UnsafeRawBufferPointer {
        precondition(index >= 0 && index < count, "frame index \(index) out of range 0..<\(count)")
        return base[index]
    }

    @usableFromInline func wrongWidth(_ type: any FrameMessage.Type, _ name: String, _ index: Int, _ width: Int) -> FrameDecodingError {
        malformed(type, name, index, "expected \(width) bytes, got \(base[index].count)")
    }

    /// Frame `index` (`name`, of a `type` message) as a big-endian integer of exactly `T`'s
    /// width, read in place.
    @inlinable @inline(__always)
    public func integer<T: FixedWidthInteger>(_ index: Int, _ name: String, of type: any FrameMessage.Type, as _: T.Type) throws -> T {
        let raw = frame(index)
        guard raw.count == MemoryLayout<T>.size, let start = raw.baseAddress else {
            throw wrongWidth(type, name, index, MemoryLayout<T>.size)
        }
        return T(bigEndian: start.loadUnaligned(as: T.self))
    }

    /// Frame `index` as a 1-byte boolean: 0 or 1.
    @inlinable @inline(__always)
    public func bool(_ index: Int, _ name: String, of type: any FrameMessage.Type) throws -> Bool {
        switch try integer(index, name, of: type, as: UInt8.self) {
        case 0: return false
        case 1: return true
        case let byte: throw malformed(type, name, index, "expected 0 or 1, got \(byte)")
        }
    }

    /// Frame `index` as an IEEE 754 big-endian 4-byte float.
    @inlinable @inline(__always)
    public func float(_ index: Int, _ name: String, of type: any FrameMessage.Type) throws -> Float {
        Float(bitPattern: try integer(index, name, of: type, as: UInt32.self))
    }

    /// Frame `index` as an IEEE 754 big-endian 8-byte double.
    @inlinable @inline(__always)
    public func double(_ index: Int, _ name: String, of type: any FrameMessage.Type) throws -> Double {
        Double(bitPattern: try integer(index, name, of: type, as: UInt64.self))
    }

    /// Runs `body` on frame `index` as validated UTF-8 text, borrowed from the receive buffer
    /// (valid during `body` only: `String(copying:)` keeps a copy). Throws `invalid UTF-8`.
    @inlinable @inline(__always)
    public func withString<R>(_ index: Int, _ name: String, of type: any FrameMessage.Type,
                              _ body: (UTF8Span) throws -> R) throws -> R {
        let bytes = frame(index).assumingMemoryBound(to: UInt8.self)
        // Text is mostly ASCII: 8 bytes per step decide that, and only other text goes through
        // the full validation. One call of `body`, so that the optimiser inlines it.
        let text: UTF8Span
        if isASCII(bytes) {
            text = UTF8Span(unchecked: bytes.span, isKnownASCII: true)
        } else {
            do { text = try UTF8Span(validating: bytes.span) } catch { throw malformed(type, name, index, "invalid UTF-8") }
        }
        return try body(text)
    }

    /// ``withString(_:_:of:_:)`` for a frame with a default: `body` gets `fallback` when the
    /// message ends before frame `index` (a sender whose schema predates the frame).
    @inlinable @inline(__always)
    public func withString<R>(_ index: Int, _ name: String, of type: any FrameMessage.Type, default fallback: String,
                              _ body: (UTF8Span) throws -> R) throws -> R {
        if index >= count { return try body(fallback.utf8Span) }
        return try withString(index, name, of: type, body)
    }

    /// Runs `body` on the bytes of frame `index`, borrowed from the receive buffer (valid during
    /// `body` only: `copiedBytes` keeps a copy).
    @inlinable @inline(__always)
    public func withBytes<R>(_ index: Int, _ body: (Span<UInt8>) throws -> R) rethrows -> R {
        try body(frame(index).assumingMemoryBound(to: UInt8.self).span)
    }

    /// Frame `index` as JSON decoded to `T` (an owned value: decoding copies anyway).
    @inlinable @inline(__always)
    public func json<T: Decodable>(_ index: Int, _ name: String, of type: any FrameMessage.Type, as _: T.Type) throws -> T {
        try decodeJSON(index, name, of: type, as: T.self)
    }
}

extension ReceivedFrames {
    @usableFromInline func decodeJSON<T: Decodable>(_ index: Int, _ name: String, of type: any FrameMessage.Type, as _: T.Type) throws -> T {
        precondition(index >= 0 && index < count, "frame index \(index) out of range 0..<\(count)")
        var reader = FrameReader(self, type: type)
        reader.position = index
        return try reader.json(name, as: T.self)
    }
}

/// Whether every byte of `bytes` is below 0x80: 64 bytes per step while they last, then 8 per
/// step (the last step overlapping the one before it rather than going byte by byte).
@inlinable @inline(__always)
func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let start = bytes.baseAddress else { return true }
    let count = bytes.count
    let raw = UnsafeRawPointer(start)
    var bits: UInt64 = 0
    if count >= 8 {
        var index = 0
        if count >= 64 {
            // Vector registers: 64 bytes per step.
            var wide = SIMD2<UInt64>()
            while index &+ 64 <= count {
                wide |= raw.loadUnaligned(fromByteOffset: index, as: SIMD2<UInt64>.self)
                    | raw.loadUnaligned(fromByteOffset: index &+ 16, as: SIMD2<UInt64>.self)
                    | raw.loadUnaligned(fromByteOffset: index &+ 32, as: SIMD2<UInt64>.self)
                    | raw.loadUnaligned(fromByteOffset: index &+ 48, as: SIMD2<UInt64>.self)
                index &+= 64
            }
            bits = wide[0] | wide[1]
        }
        while index &+ 8 < count {
            bits |= raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            index &+= 8
        }
        bits |= raw.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self)
    } else {
        for index in 0..<count { bits |= UInt64(start[index]) }
    }
    return bits & 0x8080_8080_8080_8080 == 0
}

extension Span where Element == UInt8 {
    /// An owned copy of the bytes: what a handler keeps of a borrowed bytes field.
    public var copiedBytes: [UInt8] {
        withUnsafeBufferPointer { Array($0) }
    }
}
