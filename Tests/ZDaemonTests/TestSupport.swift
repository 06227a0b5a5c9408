import Testing
@testable import ZDaemon
import ZDaemonTesting

// What only these tests share; the general helpers (eventually, LogCapture, Box, startDaemon,
// onLoop, bindEndpoint, ManualClock) are ZDaemonTesting's.

/// Terminates and waits (bounded) until the daemon's run returned.
func stop(_ handle: DaemonHandle) {
    #expect(handle.terminateAndWait())
}

func textFrames(_ texts: String...) -> [Frame] { texts.map { Array($0.utf8) } }
func text(_ frame: Frame) -> String { String(decoding: frame, as: UTF8.self) }
