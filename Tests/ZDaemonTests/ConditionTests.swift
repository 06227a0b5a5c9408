import Glibc
import Testing
import ZDaemonTesting

@Suite("Test conditions (eventually)")
struct ConditionTests {
    /// A condition that never holds is given up on after the timeout, and false is returned.
    @Test func aConditionThatNeverHoldsReturnsFalseAfterTheTimeout() {
        var checks = 0
        let started = ContinuousClock.now
        let held = eventually(timeout: .milliseconds(100)) { checks += 1; return false }
        #expect(!held)
        #expect(ContinuousClock.now - started >= .milliseconds(100))
        #expect(checks >= 2)
    }

    /// A condition that comes to hold is seen, and waiting stops there.
    @Test func aConditionThatComesToHoldReturnsTrueAtOnce() {
        var checks = 0
        #expect(eventually(timeout: .seconds(10)) { checks += 1; return checks == 3 })
        #expect(checks == 3)
    }

    /// One stall longer than the whole timeout (here the condition itself stalls, as a paused
    /// machine would) counts as one short step: the condition is checked again and seen to hold.
    @Test func aStallLongerThanTheTimeoutDoesNotUseItUp() {
        var checks = 0
        let held = eventually(timeout: .milliseconds(100)) {
            checks += 1
            if checks == 1 { usleep(300_000) }
            return checks == 5
        }
        #expect(held)
        #expect(checks == 5)
    }
}
