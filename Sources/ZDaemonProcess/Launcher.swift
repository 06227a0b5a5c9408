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
/// - SIGINT and SIGTERM are forwarded to every child (which terminate gracefully), as are
///   SIGHUP and SIGUSR1. Children run in their own process group and die with the launcher.
/// - It waits for every child, logs each abnormal exit (status or signal) and exits with the
///   first failed child's status (128 + signal number for a killed child), 0 when all
///   succeeded. A child that fails for good (no restart left) makes the launcher terminate the
///   others (SIGTERM), since the app cannot work without it. With `--restart on-failure`, a failed child is restarted after a backoff of
///   0.5 s doubling up to 30 s, at most `--max-restarts` times.
public enum Launcher {
    struct Child {
        var program: Int
        var replica: Int
        var title: String
        var restarts: Int
    }

    static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGUSR1]

    static func run(options: ProcessOptions, configuration: RuntimeConfiguration, programs: [DaemonProgram]) -> Int32 {
        let app = programs.first?.spec.app ?? "zgen"
        let title = options.title ?? "(\(app))"
        DaemonProcess.setProcessName(title)
        ProcessLogging.install(configuration.logging, processName: title)
        let logger = Logger(label: options.logHandler)
        signal(SIGPIPE, SIG_IGN)

        // Caught wherever they are delivered and queued for this loop; SIGCHLD wakes it to reap.
        let signals = SignalQueue(forwarded + [SIGCHLD])
        defer { signals.cancel() }

        var running: [pid_t: Child] = [:]
        var restarts: [(deadline: Double, child: Child)] = []
        var firstFailure: Int32?
        var stopping = false

        func now() -> Double { LogFormat.now() }

        func start(_ child: Child) -> (pid: pid_t, ready: Int32)? {
            let program = programs[child.program]
            var arguments = Array(CommandLine.arguments.dropFirst())
            arguments += ["--daemon", program.spec.name, "--title", child.title]
            if program.processes > 1 { arguments += ["--replica", String(child.replica)] }
            do {
                let (pid, ready) = try spawnSelf(arguments: arguments)
                return (pid, ready)
            } catch {
                logger.error("\(child.title) \(program.spec.name) could not be started: \(error)")
                return nil
            }
        }

        func handle(signal: Int32) {
            if signal == SIGINT || signal == SIGTERM { stopping = true }
            for pid in running.keys { kill(pid, signal) }
            if signal == SIGHUP {
                // The launcher's own log lines follow the reloaded sections too.
                do {
                    let document = try RuntimeConfiguration.readDocument(path: configuration.path)
                    ProcessLogging.install(try LoggingConfiguration(document: document, path: configuration.path), processName: title)
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

        func pendingStop() -> Bool { signals.contains(SIGINT) || signals.contains(SIGTERM) }

        // Start each daemon type, waiting for the previous type's processes to be ready.
        for (index, program) in programs.enumerated() where !stopping && !pendingStop() {
            var readies: [Int32] = []
            for replica in 1...max(program.processes, 1) {
                let childTitle = DaemonProgram.title(program.spec.title, replica: replica, of: program.processes)
                let child = Child(program: index, replica: replica, title: childTitle, restarts: 0)
                guard let (pid, ready) = start(child) else {
                    firstFailure = firstFailure ?? ExitStatus.failure
                    continue
                }
                running[pid] = child
                readies.append(ready)
            }
            waitReady(readies, timeout: 15)
        }

        while !running.isEmpty || (!restarts.isEmpty && !stopping) {
            var wait = 1.0
            if let next = restarts.map(\.deadline).min() { wait = max(0, min(1, next - now())) }
            if let signal = signals.next(timeout: wait), signal != SIGCHLD { handle(signal: signal) }
            // Reap every child that ended.
            while true {
                var status: Int32 = 0
                let pid = waitpid(-1, &status, WNOHANG)
                guard pid > 0 else { break }
                guard let child = running.removeValue(forKey: pid) else { continue }
                let name = programs[child.program].spec.name
                let exitStatus: Int32
                if status & 0x7f == 0 {
                    exitStatus = (status >> 8) & 0xff
                    if exitStatus != 0 {
                        logger.error("\(child.title) \(name) (pid \(pid)) exited with status \(exitStatus)")
                    }
                } else {
                    let number = status & 0x7f
                    exitStatus = 128 + number
                    logger.error("\(child.title) \(name) (pid \(pid)) was killed by signal \(number) (\(String(cString: strsignal(number))))")
                }
                guard exitStatus != 0 else { continue }
                if options.restart == .onFailure, !stopping, child.restarts < options.maxRestarts {
                    let delay = min(30, 0.5 * pow(2, Double(child.restarts)))
                    var next = child
                    next.restarts += 1
                    logger.warning("\(child.title) \(name) restarts in \(delay) s (restart \(next.restarts) of \(options.maxRestarts))")
                    restarts.append((now() + delay, next))
                } else {
                    firstFailure = firstFailure ?? exitStatus
                    // The app cannot work without it: stop the others rather than wait forever.
                    if !stopping {
                        logger.error("stopping the other daemons of \(app) because \(child.title) \(name) failed")
                        handle(signal: SIGTERM)
                    }
                }
            }
            // Restart what is due.
            if stopping {
                restarts.removeAll()
            } else {
                let due = restarts.filter { $0.deadline <= now() }
                restarts.removeAll { $0.deadline <= now() }
                for entry in due {
                    if let (pid, ready) = start(entry.child) {
                        close(ready)
                        running[pid] = entry.child
                    } else {
                        firstFailure = firstFailure ?? ExitStatus.failure
                    }
                }
            }
        }
        return firstFailure ?? ExitStatus.success
    }

    /// Waits until every descriptor has delivered its ready byte or hung up, or `timeout`
    /// seconds passed; closes them.
    static func waitReady(_ descriptors: [Int32], timeout: Double) {
        var open = descriptors
        let deadline = LogFormat.now() + timeout
        while !open.isEmpty {
            let left = deadline - LogFormat.now()
            if left <= 0 { break }
            var items = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let count = poll(&items, nfds_t(items.count), Int32(left * 1000))
            if count < 0, errno != EINTR { break }
            for item in items where item.revents != 0 {
                close(item.fd)
                open.removeAll { $0 == item.fd }
            }
        }
        for descriptor in open { close(descriptor) }
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
