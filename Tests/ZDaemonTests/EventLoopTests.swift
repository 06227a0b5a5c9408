import Foundation
import Synchronization
import Testing
@testable import ZDaemon
import ZDaemonTesting

@Suite("Event loop")
struct EventLoopTests {
    @Test func timersFireInDeadlineOrder() throws {
        let clock = ManualClock()
        let loop = try EventLoop(clock: clock)
        var fired: [String] = []
        loop.scheduleTask(in: .milliseconds(300)) { fired.append("c") }
        loop.scheduleTask(in: .milliseconds(100)) { fired.append("a") }
        loop.scheduleTask(in: .milliseconds(200)) { fired.append("b") }
        loop.scheduleTask(in: .milliseconds(100)) { fired.append("a2") }  // same deadline: FIFO
        loop.scheduleTask(in: .milliseconds(500)) { fired.append("late") }
        try loop.runOnce(wait: false)
        #expect(fired.isEmpty)
        clock.advance(by: .milliseconds(150))
        try loop.runOnce(wait: false)
        #expect(fired == ["a", "a2"])
        clock.advance(by: .milliseconds(250))
        try loop.runOnce(wait: false)
        #expect(fired == ["a", "a2", "b", "c"])
        clock.advance(by: .milliseconds(100))
        try loop.runOnce(wait: false)
        #expect(fired == ["a", "a2", "b", "c", "late"])
    }

    @Test func repeatingTimerFiresOncePerInterval() throws {
        let clock = ManualClock()
        let loop = try EventLoop(clock: clock)
        var count = 0
        let task = loop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(2)) { count += 1 }
        clock.advance(by: .milliseconds(999))
        try loop.runOnce(wait: false)
        #expect(count == 0)
        clock.advance(by: .milliseconds(1))
        try loop.runOnce(wait: false)
        try loop.runOnce(wait: false)
        #expect(count == 1)
        for expected in 2...6 {
            clock.advance(by: .milliseconds(1999))
            try loop.runOnce(wait: false)
            #expect(count == expected - 1)
            clock.advance(by: .milliseconds(1))
            try loop.runOnce(wait: false)
            #expect(count == expected)
        }
        // A long stall does not produce a burst.
        clock.advance(by: .seconds(20))
        try loop.runOnce(wait: false)
        try loop.runOnce(wait: false)
        #expect(count == 7)
        task.cancel()
        clock.advance(by: .seconds(20))
        try loop.runOnce(wait: false)
        #expect(count == 7)
        #expect(task.isCancelled)
    }

    @Test func cancelledTimersNeverFire() throws {
        let clock = ManualClock()
        let loop = try EventLoop(clock: clock)
        var fired: [Int] = []
        let one = loop.scheduleTask(in: .milliseconds(10)) { fired.append(1) }
        loop.scheduleTask(in: .milliseconds(20)) { fired.append(2) }
        let three = loop.scheduleTask(in: .milliseconds(30)) { fired.append(3) }
        let repeating = loop.scheduleRepeatedTask(initialDelay: .milliseconds(5), delay: .milliseconds(5)) { fired.append(9) }
        one.cancel()
        repeating.cancel()
        // A timer cancelled by an earlier timer of the same round does not fire either.
        loop.scheduleTask(in: .milliseconds(25)) { three.cancel() }
        clock.advance(by: .seconds(1))
        try loop.runOnce(wait: false)
        #expect(fired == [2])
    }

    @Test func executeRunsOnTheNextIterationInOrder() throws {
        let loop = try EventLoop(clock: ManualClock())
        var order: [Int] = []
        loop.execute { order.append(1) }
        loop.execute {
            order.append(2)
            loop.execute { order.append(4) }
        }
        loop.execute { order.append(3) }
        try loop.runOnce(wait: false)
        #expect(order == [1, 2, 3])
        try loop.runOnce(wait: false)
        #expect(order == [1, 2, 3, 4])
    }

    @Test func throwingTimerIsLoggedAndTheLoopGoesOn() throws {
        struct Boom: Error {}
        let logs = LogCapture()
        let clock = ManualClock()
        let loop = try EventLoop(clock: clock, logger: logs.makeLogger("loop"))
        var after = false
        loop.scheduleTask(in: .milliseconds(1), name: "bad") { throw Boom() }
        loop.scheduleTask(in: .milliseconds(2)) { after = true }
        clock.advance(by: .milliseconds(5))
        try loop.runOnce(wait: false)
        #expect(after)
        #expect(logs.contains("timer bad failed"))
    }

    /// Another thread posts work through the Sendable handle; the blocked poll wakes up.
    @Test func handleWakesABlockedLoop() throws {
        let done = Mutex(false)
        let ready = Mutex<EventLoopHandle?>(nil)
        let thread = Thread {
            let loop = try! EventLoop()
            ready.withLock { $0 = loop.handle }
            try! loop.run()
            loop.close()
            done.withLock { $0 = true }
        }
        thread.start()
        #expect(eventually { ready.withLock { $0 } != nil })
        let handle = ready.withLock { $0 }!
        let ran = Mutex(0)
        for _ in 0..<100 { handle.execute { ran.withLock { $0 += 1 } } }
        #expect(eventually { ran.withLock { $0 } == 100 })
        #expect(handle.stop())
        #expect(eventually { done.withLock { $0 } })
        #expect(handle.execute {} == false)
    }
}
