import ZDaemon
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs every declared daemon as a separate OS process: the executable re-executes itself
/// (`/proc/self/exe`) with `--daemon <Name> --replica <n> --title <title>` added to its own
/// arguments.
///
/// - Daemon types start in declaration order; the launcher waits (bounded, 15 s) until every
///   process of one type has opened its channels before starting the next type, so a type
///   that connects can be declared before the type that binds and publishes.
/// - SIGHUP and SIGUSR1 are forwarded to every child. Children run in their own process group
///   and die with the launcher.
/// - **Liveness.** Each child's loop sends a heartbeat over its ready pipe every second; a child
///   silent for `--liveness-timeout` (wedged, or stopped with SIGSTOP) is killed (SIGKILL) and
///   then handled as a crash, by the restart policy.
/// - **The stop.** The app's stop begins with SIGINT or SIGTERM (forwarded at once), a control
///   `TERM` (a child says it got one), a child that failed for good (the others get SIGTERM at
///   once: the app cannot work without it), or a program declared `.stopsTheApp` finishing
///   (my-zmq's server). From then on one deadline, `--stop-timeout`, applies: children that were
///   not signalled get half of it to end on their own, then SIGTERM; whatever still runs at the
///   deadline gets SIGKILL. Each step is logged; the launcher exits only when every child has
///   been reaped, so none is left behind.
/// - With `--restart on-failure`, a failed child is restarted after a backoff of 0.5 s doubling
///   up to 30 s, at most `--max-restarts` times; not after exit 69 or 78 (a port in use or a bad
///   configuration, which a restart cannot fix), and not once the stop has begun.
/// - Exit status (README "Exit statuses"): the first status of a child that failed for good (128
///   + the signal number for a killed one); 75 when the stop deadline had to kill a child; 70
///   when every child ended well but one had failed and been restarted; else 0.
public enum Launcher {
    struct Child {
        var program: Int
        var replica: Int
        var title: String
        var restarts: Int
        /// The read end of the child's ready pipe (heartbeats, control notices), non-blocking.
        var pipe: Int32 = -1
        /// When the child last showed it was alive (started, or a heartbeat).
        var lastBeat: Double = 0
        /// Whether the launcher killed it (liveness or the stop deadline).
        var killed = false
    }

    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR1]

    /// What a child writes on its ready pipe: once when ready, then a heartbeat each second, and
    /// a notice when it obeys a control `TERM`.
    enum PipeByte {
        static let ready: UInt8 = 82       // "R"
        static let heartbeat: UInt8 = 72   // "H"
        static let controlTerm: UInt8 = 67 // "C"
    }

    /// The launcher's exit status when every child ended well but one had failed (and was
    /// restarted) on the way (`EX_SOFTWARE`).
    public static let recoveredStatus: Int32 = 70

    static func run(options: ProcessOptions, configuration: RuntimeConfiguration, programs: [DaemonProgram]) -> Int32 {
        let app = programs.first?.spec.app ?? "zgen"
        let title = options.title ?? "(\(app))"
        DaemonProcess.setProcessName(title)
        ProcessLogging.install(configuration.logging, processName: title, app: app)
        let logger = Logger(label: options.logHandler)
        let notifier = SystemdNotifier()
        let watchdogSeconds = notifier?.watchdogInterval.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 }
        signal(SIGPIPE, SIG_IGN)

        // Caught wherever they are delivered and queued for this loop; SIGCHLD wakes it to reap.
        let signals = SignalQueue(forwarded + [SIGCHLD])
        defer { signals.cancel() }

        var running: [pid_t: Child] = [:]
        var restarts: [(deadline: Double, child: Child)] = []
        var firstFailure: Int32?
        var recovered = false
        var stopping = false
        var stop: (began: Double, graceEnds: Double, deadline: Double, termSent: Bool, killed: Bool)?
        let stopTimeout = options.stopTimeout
        let liveness = options.livenessTimeout

        func now() -> Double { LogFormat.now() }

        func start(_ child: Child) -> Child? {
            let program = programs[child.program]
            var arguments = Array(CommandLine.arguments.dropFirst())
            arguments += ["--daemon", program.spec.name, "--title", child.title]
            if program.processes > 1 { arguments += ["--replica", String(child.replica)] }
            do {
                let (pid, ready) = try spawnSelf(arguments: arguments)
                _ = fcntl(ready, F_SETFL, fcntl(ready, F_GETFL) | O_NONBLOCK)
                var started = child
                started.pipe = ready
                started.lastBeat = now()
                running[pid] = started
                return started
            } catch {
                logger.error("\(child.title) \(program.spec.name) could not be started: \(error)")
                return nil
            }
        }

        func describe(_ pid: pid_t, _ child: Child) -> String {
            "\(child.title) \(programs[child.program].spec.name) (pid \(pid))"
        }

        /// The app's stop begins (once): `signalled` children were already told (a forwarded
        /// signal); `now` gives the others SIGTERM at once instead of a grace period.
        func beginStop(_ reason: String, signalled: Bool, termNow: Bool = false) {
            guard stop == nil else { return }
            stopping = true
            notifier?.send("STOPPING=1\nSTATUS=stopping \(app)")
            let began = now()
            let grace = signalled || termNow ? 0 : stopTimeout / 2
            stop = (began, began + grace, began + stopTimeout, signalled, false)
            let level: Logger.Level = reason.isEmpty ? .debug : .info
            logger.log(level: level, "launcher: stopping \(app)\(reason.isEmpty ? "" : " (\(reason))"); children have \(DaemonProcess.seconds(stopTimeout)) s")
            if termNow && !signalled {
                for pid in running.keys { kill(pid, SIGTERM) }
                stop?.termSent = true
            }
        }

        func handle(signal: Int32) {
            for pid in running.keys { kill(pid, signal) }
            if signal == SIGINT || signal == SIGTERM {
                beginStop("", signalled: true)
            } else if signal == SIGHUP {
                // The launcher's own log lines follow the reloaded sections too.
                do {
                    let document = try RuntimeConfiguration.readDocument(path: configuration.path)
                    let logging = try LoggingConfiguration(
                        document: document, path: configuration.path, environment: ProcessInfo.processInfo.environment,
                        assignments: options.assignments)
                    ProcessLogging.install(logging, processName: title)
                } catch {
                    logger.error("the launcher could not reload the logging configuration: \(error)")
                }
            } else if signal == SIGUSR1 {
                for (pid, child) in running.sorted(by: { $0.key < $1.key }) {
                    logger.info("launcher: \(child.title) \(programs[child.program].spec.name) pid \(pid), restarts \(child.restarts)")
                }
                if !restarts.isEmpty { logger.info("launcher: \(restarts.count) restart(s) pending") }
            }
        }

        /// Reads what the children wrote on their pipes: heartbeats and control notices.
        func readPipes() {
            var buffer = [UInt8](repeating: 0, count: 256)
            for (pid, child) in running where child.pipe >= 0 {
                while true {
                    let count = read(child.pipe, &buffer, buffer.count)
                    guard count > 0 else { break }
                    running[pid]?.lastBeat = now()
                    if buffer[0..<count].contains(PipeByte.controlTerm) {
                        beginStop("\(child.title) \(programs[child.program].spec.name) got a control TERM", signalled: false)
                    }
                }
            }
        }

        func enforceDeadlines() {
            let time = now()
            if liveness > 0 {
                for (pid, child) in running where !child.killed && time - child.lastBeat > liveness {
                    logger.error("\(describe(pid, child)) sent no heartbeat for \(DaemonProcess.seconds(liveness)) s (wedged, or stopped): SIGKILL")
                    kill(pid, SIGKILL)
                    running[pid]?.killed = true
                }
            }
            guard let current = stop else { return }
            if !current.termSent, time >= current.graceEnds {
                for (pid, child) in running.sorted(by: { $0.key < $1.key }) {
                    logger.warning("\(describe(pid, child)) still runs \(DaemonProcess.seconds(time - current.began)) s after the stop began: SIGTERM")
                    kill(pid, SIGTERM)
                }
                stop?.termSent = true
            }
            if !current.killed, time >= current.deadline {
                for (pid, child) in running.sorted(by: { $0.key < $1.key }) where !child.killed {
                    logger.error("\(describe(pid, child)) did not stop within \(DaemonProcess.seconds(stopTimeout)) s of the stop: SIGKILL")
                    kill(pid, SIGKILL)
                    running[pid]?.killed = true
                    firstFailure = firstFailure ?? ExitStatus.shutdownDeadline
                }
                stop?.killed = true
            }
        }

        func pendingStop() -> Bool { signals.contains(SIGINT) || signals.contains(SIGTERM) }

        // Start each daemon type, waiting for the previous type's processes to be ready.
        for (index, program) in programs.enumerated() where !stopping && !pendingStop() {
            var readies: [Int32] = []
            for replica in 1...max(program.processes, 1) {
                let childTitle = DaemonProgram.title(program.spec.title, replica: replica, of: program.processes)
                let child = Child(program: index, replica: replica, title: childTitle, restarts: 0)
                guard let started = start(child) else {
                    firstFailure = firstFailure ?? ExitStatus.failure
                    continue
                }
                readies.append(started.pipe)
            }
            waitReady(readies, timeout: 15)
            for pid in running.keys { running[pid]?.lastBeat = now() }
        }
        if !stopping {
            notifier?.send("READY=1\nSTATUS=\(app): \(running.count) processes running")
        }
        var lastWatchdog = 0.0

        while !running.isEmpty || (!restarts.isEmpty && !stopping) {
            var wait = 0.5
            if let interval = watchdogSeconds {
                // From the supervisor loop: while it runs (and so watches the children's heartbeats).
                if now() - lastWatchdog >= interval {
                    notifier?.send("WATCHDOG=1")
                    lastWatchdog = now()
                }
                wait = min(wait, interval)
            }
            if let next = restarts.map(\.deadline).min() { wait = max(0, min(wait, next - now())) }
            if let signal = signals.next(timeout: wait), signal != SIGCHLD { handle(signal: signal) }
            readPipes()
            // Reap every child that ended.
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                guard pid > 0 else { break }
                guard let child = running.removeValue(forKey: pid) else { continue }
                if child.pipe >= 0 { close(child.pipe) }
                let program = programs[child.program]
                let name = program.spec.name
                let exitStatus: Int32
                if status & 0x7f == 0 {
                    exitStatus = (status >> 8) & 0xff
                    if exitStatus != 0 {
                        logger.error("\(child.title) \(name) (pid \(pid)) exited with status \(exitStatus)")
                    } else if !stopping {
                        switch program.finish {
                        case .stopsTheApp: beginStop("", signalled: false)
                        case .expected: break
                        case .unexpected: logger.warning("\(child.title) \(name) (pid \(pid)) finished although no stop was requested")
                        }
                    }
                } else {
                    let number = status & 0x7f
                    exitStatus = 128 + number
                    logger.error("\(child.title) \(name) (pid \(pid)) was killed by signal \(number) (\(String(cString: strsignal(number))))")
                }
                guard exitStatus != 0 else { continue }
                let fixable = exitStatus != ExitStatus.unavailable && exitStatus != ExitStatus.configuration
                if options.restart == .onFailure, !stopping, child.restarts < options.maxRestarts, fixable {
                    let delay = min(30, 0.5 * pow(2, Double(child.restarts)))
                    var next = child
                    next.restarts += 1
                    next.killed = false
                    next.pipe = -1
                    recovered = true
                    logger.warning("\(child.title) \(name) restarts in \(delay) s (restart \(next.restarts) of \(options.maxRestarts))")
                    restarts.append((now() + delay, next))
                } else {
                    if options.restart == .onFailure, !stopping, !fixable {
                        logger.error("\(child.title) \(name) is not restarted: status \(exitStatus) (\(exitStatus == ExitStatus.configuration ? "a configuration error" : "a socket that cannot bind or connect")) is not fixed by a restart")
                    }
                    firstFailure = firstFailure ?? exitStatus
                    // The app cannot work without it: stop the others rather than wait forever.
                    if !stopping {
                        logger.error("stopping the other daemons of \(app) because \(child.title) \(name) failed")
                        beginStop("", signalled: false, termNow: true)
                    }
                }
            }
            enforceDeadlines()
            // Restart what is due.
            if stopping {
                restarts.removeAll()
            } else {
                let due = restarts.filter { $0.deadline <= now() }
                restarts.removeAll { $0.deadline <= now() }
                for entry in due where start(entry.child) == nil {
                    firstFailure = firstFailure ?? ExitStatus.failure
                }
            }
        }
        return firstFailure ?? (recovered ? recoveredStatus : ExitStatus.success)
    }

    /// Waits until every descriptor has delivered its ready byte or hung up, or `timeout`
    /// seconds passed (the descriptors stay open: heartbeats follow).
    static func waitReady(_ descriptors: [Int32], timeout: Double) {
        var open = descriptors
        let deadline = LogFormat.now() + timeout
        var byte: UInt8 = 0
        while !open.isEmpty {
            let left = deadline - LogFormat.now()
            if left <= 0 { break }
            var items = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let count = poll(&items, nfds_t(items.count), Int32(left * 1000))
            if count < 0, errno != EINTR { break }
            for item in items where item.revents != 0 {
                _ = read(item.fd, &byte, 1)  // the ready byte (or the hang-up)
                open.removeAll { $0 == item.fd }
            }
        }
    }

    /// Signals caught (``TerminationSignals/watch(_:_:)``) and queued for the launcher's loop.
    final class SignalQueue: @unchecked Sendable {
        // `queue` is guarded by `condition`.
        private let condition = NSCondition()
        private var queue: [Int32] = []
        private var watch: SignalWatch?

        init(_ signals: [Int32]) {
            watch = TerminationSignals.watch(signals) { [weak self] signal in self?.append(signal) }
        }

        private func append(_ signal: Int32) {
            condition.withLock {
                queue.append(signal)
                condition.broadcast()
            }
        }

        /// The oldest signal not taken yet, waiting up to `timeout` seconds for one.
        func next(timeout: Double) -> Int32? {
            let deadline = Date(timeIntervalSinceNow: timeout)
            condition.lock()
            defer { condition.unlock() }
            while queue.isEmpty {
                if !condition.wait(until: deadline) { break }
            }
            return queue.isEmpty ? nil : queue.removeFirst()
        }

        /// Whether `signal` is queued and not taken yet.
        func contains(_ signal: Int32) -> Bool { condition.withLock { queue.contains(signal) } }

        /// Stops catching the signals (their previous dispositions come back).
        func cancel() { watch?.cancel() }
    }

    /// Why a child could not be started.
    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs on the launcher's own thread only, which outlives every child: a child's
    /// `PR_SET_PDEATHSIG` fires when the thread that started it ends, not the process.
    ///
    /// Starts this executable again with `arguments`, its signal mask cleared and default
    /// dispositions, in a process group of its own, with a pipe on fd 3 (`ZGEN_READY_FD`) it
    /// writes one byte to once ready. Returns the pid and the pipe's read end.
    static func spawnSelf(arguments: [String]) throws -> (pid_t, Int32) {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        // Other children must not inherit this child's pipe (dup2 onto fd 3 clears the flag there).
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        defer { close(pipeEnds[1]) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in forwarded + [SIGCHLD, SIGPIPE] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        var environment = ProcessInfo.processInfo.environment
        // systemd talks to the launcher, which speaks for the app: not to each child.
        for key in SystemdNotifier.environmentKeys { environment[key] = nil }
        environment["ZGEN_LAUNCHER_PID"] = String(getpid())
        environment["ZGEN_READY_FD"] = "3"
        let argv0 = CommandLine.arguments.first ?? "daemon"
        let argv = ([argv0] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/proc/self/exe", &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(pipeEnds[0])
            throw SpawnError(description: "posix_spawn /proc/self/exe: \(String(cString: strerror(result)))")
        }
        return (pid, pipeEnds[0])
    }
}
