import Foundation
import Synchronization
import Testing
@testable import ZDaemon

/// Collects every log line of the loggers it makes, for assertions.
final class LogCapture: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: Logger.Metadata
        var label: String
    }

    private let lines = Mutex<[Line]>([])

    func makeLogger(_ label: String) -> Logger {
        Logger(label: label) { label in Handler(label: label, capture: self) }
    }

    var configurationLogger: @Sendable (String) -> Logger { { [self] in makeLogger($0) } }

    func append(_ line: Line) { lines.withLock { $0.append(line) } }
    var all: [Line] { lines.withLock { $0 } }
    var messages: [String] { all.map(\.message) }
    func contains(_ text: String) -> Bool { messages.contains { $0.contains(text) } }

    struct Handler: LogHandler {
        let label: String
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            capture.append(Line(level: event.level, message: "\(event.message)",
                                metadata: metadata.merging(event.metadata ?? [:]) { $1 }, label: label))
        }
    }
}

/// Waits (polling every few ms, bounded) until `condition` holds; returns whether it did.
/// Not a sleep used as synchronisation: the condition is what is awaited.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(2_000)
    }
    return try condition()
}

enum Transport: String, CaseIterable, Sendable {
    case tcp, ipc, inproc
}

/// A fresh endpoint to bind: OS-chosen tcp port, unique ipc path in a temp dir, unique inproc.
func bindEndpoint(_ transport: Transport) -> String {
    switch transport {
    case .tcp: "tcp://127.0.0.1:*"
    case .ipc: "ipc://\(temporaryDirectory)/\(UUID().uuidString.prefix(8)).sock"
    case .inproc: "inproc://test-\(UUID().uuidString)"
    }
}

let temporaryDirectory: String = {
    let path = NSTemporaryDirectory() + "zdaemon-tests-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

/// Runs a daemon on its own thread and waits until its loop has started.
func startDaemon(_ name: String = "daemon", _ make: @escaping @Sendable () throws -> Daemon) throws -> DaemonHandle {
    let handle = try DaemonThread.start(name: name, make)
    #expect(handle.waitUntilStarted(timeout: .seconds(10)))
    return handle
}

/// Terminates and waits (bounded) until the daemon's run returned.
func stop(_ handle: DaemonHandle) {
    handle.terminate()
    #expect(handle.waitUntilFinished(timeout: .seconds(10)))
}

func textFrames(_ texts: String...) -> [Frame] { texts.map { Array($0.utf8) } }
func text(_ frame: Frame) -> String { String(decoding: frame, as: UTF8.self) }

/// A Sendable, lock-protected value shared between a daemon's thread and the test.
final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    var get: Value { value.withLock { $0 } }
    func update<R: Sendable>(_ body: (inout Value) -> R) -> R { value.withLock { body(&$0) } }
}

/// Runs `body` on the daemon's loop thread and returns its result (bounded wait).
func onLoop<T: Sendable>(_ handle: DaemonHandle, _ body: @escaping @Sendable (Daemon) -> T) -> T? {
    let result = Box<T?>(nil)
    guard handle.execute({ (daemon: Daemon) in
        let value = body(daemon)
        result.update { $0 = value }
    }) else { return nil }
    _ = eventually { result.get != nil }
    return result.get
}

/// A one-channel daemon spec.
func spec(_ name: String = "TestDaemon", _ channels: ChannelSpec...) -> DaemonSpec {
    DaemonSpec(name: name, title: "(test:\(name.lowercased()))", app: "tests", channels: channels)
}
