import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A fake `NOTIFY_SOCKET` for tests of daemons under systemd: a datagram socket the test reads, as
/// systemd would (pass ``address`` as the daemon's `NOTIFY_SOCKET`).
public final class NotifyListener {
    let fd: Int32
    /// What to put in `NOTIFY_SOCKET`.
    public let address: String

    /// Binds `path`, or the abstract name `@name` when `path` starts with `@`.
    public init(_ path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw NotifyListenerError("socket: \(String(cString: strerror(errno)))") }
        address = path
        var sockaddress = sockaddr_un()
        sockaddress.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &sockaddress.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (bytes.first == 0 ? 0 : 1))
        let rc = withUnsafePointer(to: &sockaddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else { throw NotifyListenerError("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// The next datagram, or nil after `timeout` seconds.
    public func next(timeout: Double = 10) -> String? {
        var item = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&item, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count >= 0 ? String(decoding: buffer.prefix(count), as: UTF8.self) : nil
    }
}

/// Why a ``NotifyListener`` could not be made.
public struct NotifyListenerError: Error, CustomStringConvertible {
    /// What failed.
    public var description: String
    init(_ description: String) { self.description = description }
}
