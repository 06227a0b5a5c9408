import Synchronization

/// A `Sendable`, lock-protected value shared between a daemon's thread (its handlers) and the
/// test that reads what they saw.
public final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    /// Creates a box holding `value`.
    public init(_ value: Value) { self.value = Mutex(value) }
    /// The value now.
    public var get: Value { value.withLock { $0 } }
    /// Changes the value under the lock and returns what `body` returns.
    @discardableResult
    public func update<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}
