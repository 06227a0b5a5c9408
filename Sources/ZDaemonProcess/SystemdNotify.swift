import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// systemd's notify protocol (`sd_notify(3)`) without libsystemd: one datagram per state change
/// to the `AF_UNIX` socket named by `NOTIFY_SOCKET` (a leading `@` is an abstract socket).
///
/// The process layer uses it when `NOTIFY_SOCKET` is set (a unit with `Type=notify`):
/// `READY=1` once every channel is open, `STATUS=` lines, `WATCHDOG=1` from the daemon's own
/// loop at half of `WATCHDOG_USEC` (so a wedged loop stops them), `STOPPING=1` at terminate. The
/// launcher sends them for the app and takes `NOTIFY_SOCKET` away from its children.
public struct SystemdNotifier: Sendable {
    /// The socket's path (`@…` for an abstract socket).
    public let path: String
    /// How often to send `WATCHDOG=1` (half of `WATCHDOG_USEC`); nil when systemd expects no
    /// watchdog from this process (`WATCHDOG_USEC` unset, or `WATCHDOG_PID` another process).
    public let watchdogInterval: Duration?

    /// The environment variables the protocol uses; the launcher removes them for its children.
    public static let environmentKeys = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// The notifier `environment` asks for, or nil without `NOTIFY_SOCKET` (or with an empty or
    /// relative one, which systemd never sets).
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], path.hasPrefix("/") || (path.hasPrefix("@") && path.count > 1) else {
            return nil
        }
        self.path = path
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if forUs, let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends `state` (e.g. `READY=1\nSTATUS=running`) as one datagram; returns whether it went.
    /// Never blocks: a full or missing socket is a failed send, not a wait.
    @discardableResult
    public func send(_ state: String) -> Bool {
        #if canImport(Glibc)
            let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        #else
            let fd = socket(AF_UNIX, SOCK_DGRAM, 0)
        #endif
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }  // abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (bytes.first == 0 ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), socketAddress, length) }
            }
        }
        return sent == message.count
    }
}
