import Foundation
import Logging
import Synchronization
import Testing
import ZDaemon
import ZDaemonSecurity
import ZDaemonTesting

#if canImport(Glibc)
import Glibc
#endif

struct SecurityTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Receives whatever arrives on `socket` within `timeout`, as UTF-8 strings of the first frame.
func drain(_ socket: ZDaemon.Socket, timeout: Duration) throws -> [String] {
    var received: [String] = []
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        let left = deadline - ContinuousClock.now
        guard let frames = try socket.receive(timeout: left) else { break }
        received.append(String(decoding: frames.first ?? [], as: UTF8.self))
    }
    return received
}

/// Runs `executable` with `arguments`; returns its status, stdout and stderr.
func run(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
}

/// A TCP relay on 127.0.0.1 (OS-chosen port) that forwards every connection to `target` and
/// records the bytes in both directions, for checking what crosses the wire.
final class TCPRelay: @unchecked Sendable {
    /// The port clients connect to.
    let port: UInt16
    private let listener: Int32
    private let wake: (read: Int32, write: Int32)
    private let targetPort: UInt16
    private let recorded = Mutex<(toServer: [UInt8], toClient: [UInt8])>(([], []))
    private let done = DispatchSemaphore(value: 0)

    init(targetPort: UInt16) throws {
        self.targetPort = targetPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = TCPRelay.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 8) == 0 else { throw SecurityTestError("relay: cannot listen") }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: actual.sin_port)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SecurityTestError("relay: pipe failed") }
        wake = (fds[0], fds[1])
        let thread = Thread { [self] in
            pump()
            done.signal()
        }
        thread.start()
    }

    /// Bytes sent by clients towards the server, and by the server towards clients.
    var bytes: (toServer: [UInt8], toClient: [UInt8]) { recorded.withLock { $0 } }

    /// Stops relaying and closes every connection (bounded wait).
    func stop() {
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
        _ = done.wait(timeout: .now() + .seconds(5))
        close(wake.write)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func pump() {
        // Pairs of (client fd, server fd).
        var pairs: [(client: Int32, server: Int32)] = []
        defer {
            for pair in pairs {
                close(pair.client)
                close(pair.server)
            }
            close(listener)
            close(wake.read)
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            for pair in pairs {
                fds.append(pollfd(fd: pair.client, events: Int16(POLLIN), revents: 0))
                fds.append(pollfd(fd: pair.server, events: Int16(POLLIN), revents: 0))
            }
            if poll(&fds, nfds_t(fds.count), -1) < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            let polled = pairs.count  // a pair accepted below has no poll entry yet
            if fds[0].revents != 0 {
                let client = accept(listener, nil, nil)
                if client >= 0 {
                    let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                    var address = TCPRelay.loopback(port: targetPort)
                    let connected = withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                    if connected == 0 { pairs.append((client, server)) } else { close(client); close(server) }
                }
            }
            var closed: Set<Int> = []
            for (index, pair) in pairs.prefix(polled).enumerated() {
                for (from, to, toServer) in [(pair.client, pair.server, true), (pair.server, pair.client, false)] {
                    let revents = fds[2 + index * 2 + (toServer ? 0 : 1)].revents
                    guard revents != 0 else { continue }
                    let count = read(from, &buffer, buffer.count)
                    if count <= 0 {
                        closed.insert(index)
                        continue
                    }
                    recorded.withLock { recorded in
                        if toServer { recorded.toServer += buffer[0..<count] } else { recorded.toClient += buffer[0..<count] }
                    }
                    var sent = 0
                    while sent < count {
                        let written = buffer.withUnsafeBytes { write(to, $0.baseAddress! + sent, count - sent) }
                        if written <= 0 { break }
                        sent += written
                    }
                }
            }
            for index in closed.sorted(by: >) {
                close(pairs[index].client)
                close(pairs[index].server)
                pairs.remove(at: index)
            }
        }
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs as a contiguous run.
    func contains(bytes needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return needle.isEmpty }
        for start in 0...(count - needle.count) where self[start] == needle[0] {
            if Array(self[start..<(start + needle.count)]) == needle { return true }
        }
        return false
    }
}

/// The port of a `tcp://127.0.0.1:<port>` endpoint.
func port(of endpoint: String) -> UInt16 {
    UInt16(endpoint.split(separator: ":").last.map(String.init) ?? "") ?? 0
}
